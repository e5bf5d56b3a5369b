"""What a readable status.json, metrics line and quality line hold, so one damaged file never hides a run or
stops a page; and the names of a metrics line's keys (Metric), for the trainer and every reader.

The trainer writes these files atomically, but a person's editor, a disk error or another tool can leave
anything in them. Readers keep the well-formed parts and say what was wrong: a status field of the
wrong type is dropped (and named), a metrics or quality line that is not a JSON object with a whole-number
step, or holds a value of the wrong kind, is skipped (and counted).
"""

from __future__ import annotations

import json
import numbers

NUMBER, WHOLE, TEXT, MAPPING, FLAG = "number", "whole number", "text", "object", "true or false"


class Metric:
    """The keys of a metrics.jsonl line, and of status.json's `last` (the newest line): one definition for the
    trainer that writes them and for every reader (charts, runs table, watchdog, CLI). A line holds numbers only."""

    EPOCH = "epoch"  # fractional: steps done over steps per epoch
    STEP = "step"
    IMAGES_SEEN = "images_seen"
    D_LOSS = "d_loss"
    G_LOSS = "g_loss"
    D_REAL = "d_real"  # mean D(x) on the real batch
    D_FAKE = "d_fake"  # mean D(G(z)) on the fake batch
    IMAGES_PER_S = "images_per_s"  # training alone (the quality score's time is left out)
    TIME = "time"  # training seconds so far
    TIMESTAMP = "timestamp"  # when the line was written (Unix time)


# Measured on the device by the training step (gan_step.GanStep, in this order), averaged over log_every steps.
NETWORK_STATS = (Metric.D_LOSS, Metric.G_LOSS, Metric.D_REAL, Metric.D_FAKE)
METRIC_LABELS = {  # how people read each key: chart legends, table headers
    Metric.EPOCH: "epoch",
    Metric.STEP: "step",
    Metric.IMAGES_SEEN: "images seen",
    Metric.D_LOSS: "D loss",
    Metric.G_LOSS: "G loss",
    Metric.D_REAL: "D(x) on real images",
    Metric.D_FAKE: "D(G(z)) on fakes",
    Metric.IMAGES_PER_S: "images/s",
    Metric.TIME: "training time (s)",
    Metric.TIMESTAMP: "written at",
}
STATUS_FIELDS = {  # field -> kind; None is allowed for every field (unknown yet, or cleared)
    "state": TEXT,
    "message": TEXT,
    "error": TEXT,
    "device": TEXT,
    "dataset": TEXT,
    "step": WHOLE,
    "total_steps": WHOLE,
    "steps_per_epoch": WHOLE,
    "images": WHOLE,
    "epochs": WHOLE,
    "pid": WHOLE,
    "epoch": NUMBER,
    "images_per_s": NUMBER,
    "eta_s": NUMBER,
    "elapsed_s": NUMBER,
    "updated": NUMBER,
    "last": MAPPING,
    # the quality score (quality/tracker.py): its classifier's training, its cost and plan, the newest score
    "preparing": MAPPING,
    "scoring_s": NUMBER,
    "score_plan": MAPPING,
    "quality": MAPPING,
}


def is_kind(value, kind: str) -> bool:
    if kind == WHOLE:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == NUMBER:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if kind == TEXT:
        return isinstance(value, str)
    if kind == FLAG:
        return isinstance(value, bool)
    return isinstance(value, dict)


def clean_status(raw) -> tuple[dict, str | None]:
    """(the fields of a status.json that have their expected type, what was wrong or None).
    Unknown fields are kept: newer versions may write more."""
    if not isinstance(raw, dict):
        return {}, f"status.json holds {type(raw).__name__}, not a JSON object"
    clean, wrong = {}, []
    for key, value in raw.items():
        kind = STATUS_FIELDS.get(key)
        if kind is None or value is None or is_kind(value, kind):
            clean[key] = value
        else:
            wrong.append(key)
    if isinstance(clean.get("last"), dict):  # the newest metrics line: its numbers are shown in tables
        clean["last"] = {k: v for k, v in clean["last"].items() if v is None or is_kind(v, NUMBER)}
    problem = f"status.json has {', '.join(wrong)} of the wrong type" if wrong else None
    return clean, problem


QUALITY_FIELDS = {"epoch": NUMBER, "frechet": NUMBER, "confidence": NUMBER, "feature_space": TEXT}  # charts need these
# Written since the score keeps its classifier's accuracy (quality/score.py's QualityScore.to_dict): absent from older
# lines, which stay readable; when present, of this kind or null (null: not known, or no verdict).
QUALITY_LATER_FIELDS = {
    "classifier_accuracy": NUMBER,
    "reliable": FLAG,
    "collapsed": FLAG,
    "precision": NUMBER,
    "recall": NUMBER,
    "density": NUMBER,
    "coverage": NUMBER,
    "samples": WHOLE,
    "seconds": NUMBER,
}


def _object_with_step(line: bytes) -> dict | None:
    """A JSON-lines line as a dict, or None when it is not UTF-8, not JSON, not an object or has no whole-number
    step (what every line of metrics.jsonl and quality.jsonl has)."""
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return None
    if not isinstance(record, dict) or not is_kind(record.get("step"), WHOLE):
        return None
    return record


def parse_metrics_line(line: bytes) -> dict | None:
    """A metrics.jsonl line as a dict, or None when it is damaged: not a JSON object with a whole-number step, or
    holding a value that is not a number (null allowed)."""
    record = _object_with_step(line)
    if record is None or not all(v is None or is_kind(v, NUMBER) for v in record.values()):
        return None
    return record


def parse_quality_line(line: bytes) -> dict | None:
    """A quality.jsonl line as a dict, or None when it is damaged: not a JSON object with a whole-number step, a
    score the charts need (QUALITY_FIELDS, the histogram) missing or of the wrong type, or a later field
    (QUALITY_LATER_FIELDS) of the wrong type."""
    record = _object_with_step(line)
    if record is None:
        return None
    histogram = record.get("histogram")
    if not (
        all(is_kind(record.get(k), kind) for k, kind in QUALITY_FIELDS.items())
        and isinstance(histogram, list)
        and histogram
        and all(is_kind(h, NUMBER) for h in histogram)
    ):
        return None
    if not all(record.get(k) is None or is_kind(record[k], kind) for k, kind in QUALITY_LATER_FIELDS.items()):
        return None
    return record
