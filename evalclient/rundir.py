"""The run directory: the only code that reads or writes one (``evalclient`` writes it, ``compare`` reads it).

Layout:

- ``RUNDIR/run.json``: ``RunConfig``, the resolved configuration (endpoint, model, benchmarks,
  protocol, sampling, seeds, n, thinking budgets, scoring mode), written before the first request.
  Rerunning with the same ``--out`` checks that the configuration matches, then resumes.
- ``RUNDIR/samples.jsonl``: one ``SampleRecord`` per line, appended (and flushed) as soon as a sample is
  scored; a finished sample is identified by ``SampleRecord.key`` =
  (benchmark, problem_id, thinking_budget, seed, sample_index) and is never asked again on resume.
  ``correct`` is ``None`` for a sample that failed (``error`` says why): errors are reported, never
  scored as wrong. On resume, errored samples are asked again; the last line for a key wins.
  A run killed mid-write leaves a torn last line (bytes after the last newline): readers ignore it and
  leave the file alone; resuming truncates it before appending. Any other unreadable line is an error.
- ``RUNDIR/summary.json``: ``evalclient.metrics.RunSummary`` (metrics with 95% CIs per benchmark,
  thinking budget and meta slice).
- ``RUNDIR/served_model.json``: the endpoint's ``/v1/models`` card of the model when the run asked (what was
  served: quantreason's ``serve`` says the quantization scheme and whether the weights are an emulation).
- ``RUNDIR/report.md`` and, for a budget sweep, ``RUNDIR/accuracy_vs_budget.png``: the same for people.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from evalclient.errors import EvalclientError
from evalclient.records import RunConfig, SampleKey, SampleRecord

RUN_FILE = "run.json"
SAMPLES_FILE = "samples.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
BUDGET_PLOT_FILE = "accuracy_vs_budget.png"
SERVED_MODEL_FILE = "served_model.json"
# Settings that may change between a run and its resume without changing any sample's meaning.
RESUMABLE_DIFFERENCES = {"limit", "data_dir", "evalclient_version"}


class RunDirectoryError(EvalclientError):
    """A run directory cannot be used or read: it holds a different run, or a file in it is damaged."""


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write ``path`` whole or not at all (a temporary file beside it, then a rename)."""
    temporary = path.with_name(f".{path.name}.tmp")
    if isinstance(content, str):
        temporary.write_text(content, encoding="utf-8")
    else:
        temporary.write_bytes(content)
    os.replace(temporary, path)


def write_json(path: Path, data: Any) -> None:
    write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def save_figure(figure: Any, path: Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    write_atomically(path, buffer.getvalue())
    return path


class SampleSink:
    """Appends records to ``samples.jsonl``, each flushed before the next is taken."""

    def __init__(self, handle: TextIO) -> None:
        self._handle = handle

    def write(self, record: SampleRecord) -> None:
        self._handle.write(record.model_dump_json() + "\n")
        self._handle.flush()


class RunDirectory:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def samples_path(self) -> Path:
        return self.path / SAMPLES_FILE

    def __str__(self) -> str:
        return str(self.path)

    # ---------------------------------------------------------------- run.json

    def read_config(self) -> dict[str, Any] | None:
        """``run.json`` as written (None when absent); readers take what they know of it."""
        path = self.path / RUN_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RunDirectoryError(f"{path}: not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise RunDirectoryError(f"{path} is not an evalclient run configuration")
        return data

    def prepare(self, config: RunConfig) -> None:
        """Create the directory and ``run.json``; on resume, check that the configuration is the same."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            previous = self.read_config()
            if previous is not None:
                self._check_resumable(previous, config)
            write_atomically(self.path / RUN_FILE, config.model_dump_json(indent=2) + "\n")
        except OSError as exc:
            raise RunDirectoryError(f"cannot use {self.path}: {exc.strerror or exc}") from None

    def _check_resumable(self, previous: dict[str, Any], config: RunConfig) -> None:
        try:
            old = RunConfig.model_validate(previous).model_dump()
        except ValidationError:
            raise RunDirectoryError(
                f"{self.path / RUN_FILE} is not an evalclient run configuration"
            ) from None
        new = config.model_dump()
        differences = sorted(
            key for key in new if key not in RESUMABLE_DIFFERENCES and old.get(key) != new[key]
        )
        if differences:
            raise RunDirectoryError(
                f"{self.path} holds a different run (differs in: {', '.join(differences)}); "
                "pass another --out"
            )

    # ---------------------------------------------------------------- samples.jsonl

    def has_samples(self) -> bool:
        return self.samples_path.is_file()

    def read_samples(self) -> list[SampleRecord]:
        """Every complete line of ``samples.jsonl`` in file order; a torn last line is ignored."""
        if not self.has_samples():
            return []
        data = self.samples_path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        records = []
        for number, line in enumerate(complete.decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(SampleRecord.model_validate_json(line))
            except ValidationError:
                raise RunDirectoryError(
                    f"{self.samples_path}:{number}: not a sample record (the file is damaged)"
                ) from None
        return records

    def latest_samples(self) -> dict[SampleKey, SampleRecord]:
        """The last record of each sample key (a resumed run appends a retried error after the failure)."""
        return {record.key: record for record in self.read_samples()}

    @contextmanager
    def appending(self) -> Iterator[SampleSink]:
        """A sink that appends to ``samples.jsonl``, after cutting off a torn last line."""
        self._truncate_torn_line()
        with self.samples_path.open("a", encoding="utf-8") as handle:
            yield SampleSink(handle)

    def _truncate_torn_line(self) -> None:
        if not self.has_samples():
            return
        with self.samples_path.open("r+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            end = size
            while end > 0:  # search back for the last newline, a block at a time
                start = max(0, end - 65536)
                handle.seek(start)
                block = handle.read(end - start)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    end = start + newline + 1
                    break
                end = start
            if end < size:
                handle.truncate(end)

    # ---------------------------------------------------------------- served_model.json

    def write_served_model(self, card: dict[str, Any]) -> None:
        write_json(self.path / SERVED_MODEL_FILE, card)

    def read_served_model(self) -> dict[str, Any] | None:
        """The served model's card, or None when the endpoint listed none (or the run predates the file)."""
        try:
            card = json.loads((self.path / SERVED_MODEL_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return card if isinstance(card, dict) else None

    # ---------------------------------------------------------------- results

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.path / SUMMARY_FILE, summary)

    def write_report(self, text: str) -> None:
        write_atomically(self.path / REPORT_FILE, text)

    @property
    def budget_plot_path(self) -> Path:
        return self.path / BUDGET_PLOT_FILE
