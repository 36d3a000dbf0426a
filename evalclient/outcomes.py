"""Finished runs read for comparison: each problem's outcome (mean correctness, mean lengths) per run."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalclient.records import SampleRecord
from evalclient.rundir import SAMPLES_FILE, RunDirectory, RunDirectoryError

LENGTH_FIELDS = ("reasoning_tokens", "answer_tokens", "completion_tokens")

ProblemKey = tuple[str, int | None, str]  # benchmark, thinking budget, problem id


@dataclass
class ProblemOutcome:
    """One problem in one run: its samples' mean correctness and mean lengths."""

    correct: list[bool] = field(default_factory=list)
    lengths: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    meta: dict[str, str | int] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / len(self.correct)

    def mean_length(self, name: str) -> float | None:
        values = self.lengths.get(name) or []
        return statistics.fmean(values) if values else None


@dataclass
class Run:
    label: str
    path: Path
    config: dict[str, Any]
    records: list[SampleRecord]
    outcomes: dict[ProblemKey, ProblemOutcome]
    errors: int
    served_model: dict[str, Any] | None = None  # served_model.json: what the endpoint said it served


def outcomes_of(records: Iterable[SampleRecord]) -> tuple[dict[ProblemKey, ProblemOutcome], int]:
    outcomes: dict[ProblemKey, ProblemOutcome] = {}
    errors = 0
    for record in records:
        if record.correct is None:
            errors += 1
            continue
        outcome = outcomes.setdefault(
            (record.benchmark, record.thinking_budget, record.problem_id),
            ProblemOutcome(meta=dict(record.meta)),
        )
        outcome.correct.append(record.correct)
        for name in LENGTH_FIELDS:
            value = getattr(record, name)
            if value is not None:
                outcome.lengths[name].append(value)
    return outcomes, errors


def load_run(run_dir: Path, label: str | None = None) -> Run:
    """A run directory's latest record per sample (the files are only read)."""
    if not run_dir.is_dir():
        raise RunDirectoryError(f"{run_dir}: no such run directory")
    directory = RunDirectory(run_dir)
    config = directory.read_config() or {}
    if not directory.has_samples():
        raise RunDirectoryError(f"{run_dir}: no {SAMPLES_FILE} (not an evalclient run directory)")
    records = list(directory.latest_samples().values())
    if not records:
        raise RunDirectoryError(f"{run_dir}: {SAMPLES_FILE} holds no samples")
    outcomes, errors = outcomes_of(records)
    served = directory.read_served_model()
    return Run(label or run_dir.name, run_dir, config, records, outcomes, errors, served)
