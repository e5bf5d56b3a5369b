"""The run folder and its files: layout and contract (directory.py), status and metrics lines (records.py),
the one-trainer lock, checkpoints and exported generators, and runs as the app manages them (manage.py)."""
