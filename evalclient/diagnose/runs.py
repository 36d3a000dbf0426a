"""Reading the runs to diagnose, and choosing what to diagnose in them.

Runs are read through ``evalclient.rundir.RunDirectory``, the one reader of a run directory (last line
per key wins, a torn last line ignored). The targets are every wrong sample (``correct is False``; error
samples have no verdict and are not failures). With a baseline, a failure of the run is a *flip* when
the baseline's sample with the same key (benchmark, thinking budget, problem, seed, sample index) is
right; flips come first, then the run's other failures, then the baseline's own failures (so both runs'
distributions can be set side by side).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from evalclient.diagnose.rows import Role, RowKey
from evalclient.errors import EvalclientError
from evalclient.records import RunConfig, SampleKey, SampleRecord
from evalclient.rundir import RUN_FILE, SAMPLES_FILE, RunDirectory, RunDirectoryError


class NotARunError(EvalclientError):
    """The directory is not an evalclient run; the message names what is missing."""


@dataclass(frozen=True)
class RunData:
    path: Path
    config: RunConfig
    records: dict[SampleKey, SampleRecord]  # in order of first appearance

    @property
    def label(self) -> str:
        return self.path.name


def read_run(path: Path) -> RunData:
    if not path.is_dir():
        raise NotARunError(f"{path}: no such directory")
    missing = [name for name in (RUN_FILE, SAMPLES_FILE) if not (path / name).is_file()]
    if missing:
        raise NotARunError(f"{path} is not an evalclient run: no {' and no '.join(missing)}")
    run_dir = RunDirectory(path)
    try:
        config = RunConfig.model_validate(run_dir.read_config())
        return RunData(path, config, run_dir.latest_samples())
    except ValidationError:
        raise NotARunError(f"{path / RUN_FILE} is not an evalclient run configuration") from None
    except RunDirectoryError as exc:
        raise NotARunError(str(exc)) from None


@dataclass(frozen=True)
class Target:
    role: Role
    run: RunData
    sample: int  # the record's index in its run
    record: SampleRecord
    flip: bool

    @property
    def key(self) -> RowKey:
        r = self.record
        return (self.role, r.benchmark, r.problem_id, r.thinking_budget, r.seed, r.sample_index)

    @property
    def digest(self) -> str:
        text = f"{self.record.reasoning}\0{self.record.answer}"
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()

    @property
    def problem(self) -> str:
        """The problem as asked: the last user message of the request."""
        for message in reversed(self.record.request.get("messages") or []):
            if isinstance(message, dict) and message.get("role") == "user":
                return str(message.get("content") or "")
        return ""


def _failures(run: RunData) -> list[tuple[int, SampleRecord]]:
    return [(index, record) for index, record in enumerate(run.records.values()) if record.correct is False]


def targets(run: RunData, baseline: RunData | None) -> list[Target]:
    failures = _failures(run)
    if baseline is None:
        return [Target("run", run, index, record, False) for index, record in failures]

    def flipped(record: SampleRecord) -> bool:
        other = baseline.records.get(record.key)
        return other is not None and other.correct is True

    flips = [Target("run", run, i, r, True) for i, r in failures if flipped(r)]
    others = [Target("run", run, i, r, False) for i, r in failures if not flipped(r)]
    base = [Target("baseline", baseline, i, r, False) for i, r in _failures(baseline)]
    return flips + others + base
