"""The sample-quality score: a classifier of the dataset itself (classifier.py), the scores in its features
(score.py), and the trainer's per-epoch scoring within a time budget (tracker.py)."""
