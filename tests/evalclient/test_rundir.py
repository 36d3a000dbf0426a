"""The run directory: a torn last line is ignored on read and cut off before a resume appends."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalclient.records import SampleRecord
from evalclient.rundir import RunDirectory, RunDirectoryError


def record(problem: str) -> SampleRecord:
    return SampleRecord(
        benchmark="toy", problem_id=problem, sample_index=0, seed=42, model="m", endpoint="http://e/v1",
        request={}, reasoning=None, answer="a", extracted="a", correct=True,
    )  # fmt: skip


def torn_run(tmp_path: Path) -> RunDirectory:
    directory = RunDirectory(tmp_path)
    with directory.appending() as sink:
        sink.write(record("p0"))
        sink.write(record("p1"))
    with directory.samples_path.open("a") as handle:
        handle.write(record("p2").model_dump_json())  # killed before the newline: the line is torn
    return directory


def test_reading_ignores_a_torn_last_line_and_leaves_the_file_alone(tmp_path: Path) -> None:
    directory = torn_run(tmp_path)
    before = directory.samples_path.read_bytes()
    assert [r.problem_id for r in directory.read_samples()] == ["p0", "p1"]
    assert directory.samples_path.read_bytes() == before


def test_appending_cuts_the_torn_line_off_first(tmp_path: Path) -> None:
    directory = torn_run(tmp_path)
    with directory.appending() as sink:
        sink.write(record("p3"))
    assert [r.problem_id for r in directory.read_samples()] == ["p0", "p1", "p3"]
    assert directory.samples_path.read_text().endswith("\n")


def test_a_damaged_line_before_the_last_is_an_error_naming_it(tmp_path: Path) -> None:
    directory = torn_run(tmp_path)
    directory.samples_path.write_text(
        f"{record('p0').model_dump_json()}\n{{oops\n{record('p1').model_dump_json()}\n"
    )
    with pytest.raises(RunDirectoryError, match=r"samples.jsonl:2: not a sample record"):
        directory.read_samples()


def test_the_last_record_of_a_key_wins(tmp_path: Path) -> None:
    directory = RunDirectory(tmp_path)
    failed = record("p0").model_copy(update={"correct": None, "error": "HTTP 500"})
    with directory.appending() as sink:
        sink.write(failed)
        sink.write(record("p0"))
    assert [r.correct for r in directory.latest_samples().values()] == [True]
