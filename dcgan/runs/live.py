"""Following a run while it trains: only the lines appended to metrics.jsonl since the last look are read.

A page refreshes about once a second; re-reading a long run's whole metrics file each time would grow
with the run. MetricsFollower keeps what it has read and its byte offset, and starts over only when the
file was replaced (a resume truncates it to the checkpoint's step with an atomic rewrite).
"""

from __future__ import annotations

import os
from stat import S_ISREG

from dcgan.runs.directory import RunDirectory


class MetricsFollower:
    def __init__(self, run: RunDirectory):
        self.run = run
        self.records: list[dict] = []
        self.offset = 0
        self.inode: int | None = None
        self.bytes_read = 0  # total bytes parsed, for the benchmark and the tests
        self.skipped = 0  # damaged lines left out (shown to the user)

    def update(self) -> int:
        """Read the lines appended since the last call; returns how many arrived."""
        try:
            stat = os.stat(self.run.metrics_path)
        except OSError:  # absent (or, damaged, unreadable): nothing to show
            self.records, self.offset, self.inode, self.skipped = [], 0, None, 0
            return 0
        if stat.st_ino != self.inode or stat.st_size < self.offset:
            self.records, self.offset, self.inode = [], 0, stat.st_ino  # replaced or truncated: start over
            self.skipped = 0
        if stat.st_size == self.offset or not S_ISREG(stat.st_mode):  # unchanged, or not a regular file
            return 0
        new, end, skipped = self.run.read_metrics(self.offset)
        self.skipped += skipped
        self.bytes_read += end - self.offset
        self.offset = end
        self.records.extend(new)
        return len(new)

    def column(self, key: str) -> list:
        return [r.get(key) for r in self.records]


def thin(records: list[dict], max_points: int) -> list[dict]:
    """At most about `max_points` records, evenly spaced, always keeping the newest (for plotting)."""
    if len(records) <= max_points:
        return records
    stride = -(-len(records) // max_points)
    kept = records[::stride]
    return kept if kept[-1] is records[-1] else kept + [records[-1]]
