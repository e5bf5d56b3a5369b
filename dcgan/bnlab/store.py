"""The batch-norm lab's last results on disk, so a reload, a page switch or a restarted server shows them again
until the person starts new ones.

They live beside the runs, in a hidden folder the run listing skips: `<runs root>/.bn-lab/` (`runs/.bn-lab/`,
or under $DCGAN_RUNS_DIR; see dcgan/paths.py). One JSON file per experiment, written atomically:

  pair.json        the last pair: its settings, its progress and both networks' curves and test accuracies
                   (a pair per seed, each network's inside view when it was recorded)
  table.json       the last run of the lesson's table: its iteration choice, its progress and every row's pair
  sweep.json       the last sweep over activation x learning rate x starting weights (dcgan/bnlab/sweep.py)
  dcgan-pair.json  the names of the last two DCGAN runs started with and without batch norm
  kept/            every pair, table and sweep that ended (finished or stopped), as <kind>-<start time>.json,
                   the newest KEEP of each kind: the lab lists them to reopen and compare

The app and `python -m dcgan bn-lab` write the same files, so a result from a terminal shows in the app.

A file that cannot be read (damaged, from another program, a newer version) is treated as absent, with a
note saying why: the lab then starts empty instead of failing. Nothing here knows of Streamlit.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dcgan.bnlab.experiment import LabConfig, NetworkResult
from dcgan.bnlab.inside import InsideTrace
from dcgan.fileio import atomic_write_json
from dcgan.paths import runs_root

FOLDER = ".bn-lab"  # hidden: list_runs leaves out folders whose name starts with a dot
VERSION = 1
PAIR, TABLE, SWEEP, DCGAN_PAIR = "pair", "table", "sweep", "dcgan-pair"
KEPT = "kept"
KEEP = 30  # kept results per kind; the oldest beyond goes (a pair with its inside view is ~0.5 MB)
STATES = ("running", "finished", "stopped", "failed")
SAVE_EVERY_S = 2.0  # while an experiment trains, its file is rewritten at most this often
_newest: dict[Path, Recorder] = {}  # per file, the Recorder of the experiment started last in this process


def lab_folder(root: str | Path | None = None) -> Path:
    return runs_root(root) / FOLDER


def path_of(kind: str, root: str | Path | None = None) -> Path:
    return lab_folder(root) / f"{kind}.json"


@dataclass
class Saved:
    """One experiment as saved: `settings` is a LabConfig's fields (a pair) or {"iterations": n or None} (the
    table, None = each row's published count); `results` holds (without, with batch norm) per row."""

    kind: str
    settings: dict
    state: str = "running"  # running (or interrupted, when no job of this server trains it), finished, stopped, failed
    iteration: int = 0
    total: int = 0
    results: list[tuple[NetworkResult, NetworkResult]] = field(default_factory=list)
    data: str = ""  # which digits it trained on
    device: str = ""
    started: float = 0.0  # time.time()
    elapsed_s: float = 0.0
    error: str = ""
    stopped_unseen: bool = False  # stopped because no page showed it (its tab was closed)

    @property
    def config(self) -> LabConfig:
        return LabConfig(**self.settings)


def _finite(x: float | None) -> float | None:
    return x if x is None or math.isfinite(x) else None  # JSON has no NaN: a diverged point is null


def _result_json(r: NetworkResult) -> dict:
    return {
        "batchnorm": r.batchnorm,
        "validation": [[i, _finite(a)] for i, a in r.validation],
        "loss": [[i, _finite(v)] for i, v in r.loss],
        "diverged_at": r.diverged_at,
        "test_accuracy": _finite(r.test_accuracy),
        "trained": r.trained,
        "inside": r.inside.to_json() if r.inside is not None else None,
    }


def _result_from(d: dict) -> NetworkResult:
    nan = lambda v: float("nan") if v is None else float(v)
    return NetworkResult(
        batchnorm=bool(d["batchnorm"]),
        validation=[(int(i), nan(a)) for i, a in d["validation"]],
        loss=[(int(i), nan(v)) for i, v in d["loss"]],
        diverged_at=None if d["diverged_at"] is None else int(d["diverged_at"]),
        test_accuracy=None if d["test_accuracy"] is None else float(d["test_accuracy"]),
        trained=int(d["trained"]),
        inside=InsideTrace.from_json(d["inside"]) if d.get("inside") else None,
    )


def save(saved: Saved, root: str | Path | None = None, path: Path | None = None) -> None:
    record = asdict(saved)
    record["version"] = VERSION
    record["results"] = [[_result_json(a), _result_json(b)] for a, b in saved.results]
    atomic_write_json(path or path_of(saved.kind, root), record)


def load(kind: str, root: str | Path | None = None, path: Path | None = None) -> tuple[Saved | None, str]:
    """(the saved experiment, "") or (None, a note saying why a file there was not used); (None, "") when
    there is none. `path`: a kept one (kept_results) instead of the last."""
    path = path or path_of(kind, root)
    if not path.exists():
        return None, ""
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or record.get("kind") != kind:
            raise ValueError(f"it is not the lab's {kind} file")
        if record.get("version") != VERSION:
            raise ValueError(f"version {record.get('version')!r}, not {VERSION}")
        if record.get("state") not in STATES:
            raise ValueError(f"unknown state {record.get('state')!r}")
        saved = Saved(
            kind=kind,
            settings=dict(record["settings"]),
            state=record["state"],
            iteration=int(record["iteration"]),
            total=int(record["total"]),
            results=[(_result_from(a), _result_from(b)) for a, b in record["results"]],
            data=str(record.get("data", "")),
            device=str(record.get("device", "")),
            started=float(record.get("started", 0.0)),
            elapsed_s=float(record.get("elapsed_s", 0.0)),
            error=str(record.get("error", "")),
            stopped_unseen=bool(record.get("stopped_unseen", False)),
        )
        if kind == PAIR:
            saved.config.validate()
            if len(saved.results) > saved.config.seeds:
                raise ValueError(f"a pair file with more pairs than its {saved.config.seeds} seed(s)")
        return saved, ""
    except (OSError, ValueError, TypeError, KeyError, AttributeError, IndexError) as err:  # ConfigError: ValueError
        return None, f"The lab's saved {kind} ({path}) could not be read and is ignored: {err}"


class Recorder:
    """Keeps an experiment's file up to date while it trains: wrap its progress callback with `progress`,
    then call `finish` (or `fail`). Writes at most every SAVE_EVERY_S while training; a write that fails
    (a full disk) loses only the saved copy, never the experiment."""

    def __init__(self, saved: Saved, root: str | Path | None = None, clock=time.monotonic):
        self.saved, self.root, self._clock = saved, root, clock
        self.saved.started = self.saved.started or time.time()
        self._start = clock()
        self._last_save = -math.inf
        self.write_error = ""
        self._path = path_of(saved.kind, root)
        _newest[self._path] = self  # an older experiment still ending (just stopped) no longer writes the file
        self._save()

    def _save(self) -> None:
        if _newest.get(self._path) is not self:
            return
        self.saved.elapsed_s = self._clock() - self._start
        try:
            save(self.saved, self.root)
            self._last_save = self._clock()
        except OSError as err:
            self.write_error = str(err)

    def progress(self, inner=None, pairs_of=None):
        """A progress(iteration, total, results) that records, then calls `inner`. `pairs_of(results)` turns
        the engine's flat list of networks into the (without, with) pairs to keep (None: keep none while
        training)."""

        def report(done: int, total: int, results=None) -> None:
            self.saved.iteration, self.saved.total = done, total
            if pairs_of is not None and results:
                self.saved.results = pairs_of(results)
            if self._clock() - self._last_save >= SAVE_EVERY_S:
                self._save()
            if inner is not None:
                inner(done, total, results)

        return report

    def finish(self, results: list[tuple[NetworkResult, NetworkResult]], stopped: bool, unseen: bool = False) -> None:
        """The experiment ended: its file says so, and a copy is kept among the kept results."""
        self.saved.results = list(results)
        self.saved.state = "stopped" if stopped else "finished"
        self.saved.stopped_unseen = unseen
        self._save()
        try:
            keep(self.saved, self.root)
        except OSError as err:
            self.write_error = str(err)

    def fail(self, error: str) -> None:
        self.saved.state, self.saved.error = "failed", error
        self._save()


def save_dcgan_pair(names: list[str], root: str | Path | None = None) -> None:
    atomic_write_json(
        path_of(DCGAN_PAIR, root), {"kind": DCGAN_PAIR, "version": VERSION, "runs": list(names), "saved": time.time()}
    )


def load_dcgan_pair(root: str | Path | None = None) -> tuple[list[str], str]:
    """(the two run names, "") or ([], a note when a file there could not be used)."""
    path = path_of(DCGAN_PAIR, root)
    if not path.exists():
        return [], ""
    try:
        record = json.loads(path.read_text())
        runs = record["runs"] if isinstance(record, dict) and record.get("kind") == DCGAN_PAIR else None
        if not (isinstance(runs, list) and len(runs) == 2 and all(isinstance(n, str) and n for n in runs)):
            raise ValueError("it does not name two runs")
        if any("/" in n or n.startswith(".") for n in runs):
            raise ValueError("a run name there is not a run's folder name")
        return runs, ""
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as err:
        return [], f"The lab's saved DCGAN pair ({path}) could not be read and is ignored: {err}"


def kept_folder(root: str | Path | None = None) -> Path:
    return lab_folder(root) / KEPT


def keep(saved: Saved, root: str | Path | None = None) -> Path:
    """Copy an ended experiment among the kept ones (named by its start time), dropping the oldest beyond KEEP."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(saved.started))
    path = kept_folder(root) / f"{saved.kind}-{stamp}-{int(saved.started * 1000) % 1000:03d}.json"
    save(saved, path=path)
    for old in sorted(kept_folder(root).glob(f"{saved.kind}-*.json"))[:-KEEP]:
        old.unlink(missing_ok=True)
    return path


def kept_results(kind: str, root: str | Path | None = None) -> tuple[list[tuple[Path, Saved]], list[str]]:
    """The kept experiments of `kind`, newest first, and a note for each file that could not be read."""
    kept, notes = [], []
    for path in sorted(kept_folder(root).glob(f"{kind}-*.json"), reverse=True):
        saved, note = load(kind, path=path)
        if saved is not None:
            kept.append((path, saved))
        elif note:
            notes.append(note)
    return kept, notes
