"""Training a DCGAN: the loop (trainer.py), one GAN step (gan_step.py), resuming, and the watchdog."""
