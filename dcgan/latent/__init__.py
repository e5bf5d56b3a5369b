"""Exploring a trained generator's latent space: interpolation, arithmetic and principal directions
(explore.py), and projecting a picture into z (projection.py)."""
