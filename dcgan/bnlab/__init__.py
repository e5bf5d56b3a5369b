"""The batch-normalization lesson: stacked twin networks (networks.py), experiments and the lesson's table
(experiment.py), the inference-mode demonstration, and `python -m dcgan bn-lab`."""
