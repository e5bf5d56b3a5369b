"""The sample-quality score: the classifier network and its files (digit_classifier.py), each dataset's scoring
classifier, trained until good and cached (scoring_classifier.py), the scores in its features (score.py), and the
trainer's per-epoch scoring within a time budget (tracker.py)."""
