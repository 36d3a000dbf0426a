"""The study table of ``evalclient compare``: four constructed runs, known differences and p-values.

toy-arith, 30 problems per difficulty, budgets 64 and unlimited. At unlimited the baseline (bf16) solves 29 of
each level's 30; ``STUDY`` says how many each other run loses and wins per level (w8a8: one of each on hard,
w4a16: 2 hard lost, w2a16: 3 medium and 12 hard lost); the exact McNemar p of k losses and no wins is
2 / 2**k. At budget 64 every run solves the same half.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from evalclient.compare import load_run, main, sign_test_p
from evalclient.compare_study import build_study, cell_text
from evalclient.records import UNLIMITED_BUDGET, SampleRecord
from tests.evalclient.test_compare import record, write_run

LEVELS = ("easy", "medium", "hard")
# scheme -> (served card, {level: (problems lost vs bf16, problems won)}, reasoning tokens) at unlimited
STUDY: dict[str, tuple[dict[str, object] | None, dict[str, tuple[int, int]], int]] = {
    "bf16": ({"quantization_scheme": "bf16"}, {}, 100),
    "w8a8-int8": ({"quantization_scheme": "w8a8-int8"}, {"hard": (1, 1)}, 100),
    "w4a16": (
        {"quantization_scheme": "w4a16", "emulated": True, "emulation": "weights only: 4-bit weights"},
        {"hard": (2, 0)},
        104,
    ),
    "w2a16": (
        {"quantization_scheme": "w2a16", "emulated": True, "emulation": "weights only: 2-bit weights"},
        {"medium": (3, 0), "hard": (12, 0)},
        120,
    ),
}
PROBLEMS_PER_LEVEL = 30


def _records(changes: dict[str, tuple[int, int]], reasoning_tokens: int) -> list[SampleRecord]:
    records = []
    for level in LEVELS:
        lost, won = changes.get(level, (0, 0))
        for index in range(PROBLEMS_PER_LEVEL):
            name = f"{level}-{index}"
            meta = {"difficulty": level}
            # unlimited: the baseline solves all but the last problem of each level (so there is room to win)
            baseline_right = index < PROBLEMS_PER_LEVEL - 1
            right = baseline_right
            if index < lost:
                right = False
            if won and index == PROBLEMS_PER_LEVEL - 1:
                right = True
            records.append(
                record(
                    name,
                    right,
                    benchmark="toy-arith",
                    thinking_budget=UNLIMITED_BUDGET,
                    meta=meta,
                    reasoning_tokens=reasoning_tokens,
                )
            )
            # budget 64: every run solves the first half of each level, no differences
            records.append(
                record(
                    name,
                    index < 15,
                    benchmark="toy-arith",
                    thinking_budget=64,
                    meta=meta,
                    reasoning_tokens=64,
                )
            )
    return records


@pytest.fixture
def study_runs(tmp_path: Path) -> list[Path]:
    paths = []
    for scheme, (card, changes, tokens) in STUDY.items():
        path = write_run(tmp_path / scheme, _records(changes, tokens), scheme)
        if card is not None:
            (path / "served_model.json").write_text(json.dumps({"id": "tiny", **card}))
        paths.append(path)
    return paths


def test_study_rows_have_the_known_differences_and_p_values(study_runs: list[Path]) -> None:
    study = build_study([load_run(path) for path in study_runs], resamples=500)
    assert study.level_key == "difficulty" and study.levels == list(LEVELS)
    assert study.budgets == [64, UNLIMITED_BUDGET]
    rows = {(row.run, row.thinking_budget): row for row in study.rows}
    baseline = rows["bf16", UNLIMITED_BUDGET]
    assert baseline.overall.vs_baseline is None and baseline.overall.accuracy == pytest.approx(87 / 90)
    w2 = rows["w2a16", UNLIMITED_BUDGET]
    assert w2.emulated and w2.weight_bits == 2 and w2.emulation == "weights only: 2-bit weights"
    assert w2.overall.vs_baseline is not None
    assert w2.overall.vs_baseline.difference == pytest.approx(-15 / 90)
    assert w2.overall.vs_baseline.p_value == pytest.approx(2 / 2**15)
    hard = w2.by_level["hard"].vs_baseline
    assert (
        hard is not None
        and hard.difference == pytest.approx(-12 / 30)
        and hard.p_value == pytest.approx(2 / 2**12)
    )
    assert hard.difference_ci[1] < 0  # the loss on hard problems is real
    medium = w2.by_level["medium"].vs_baseline
    assert medium is not None and medium.p_value == pytest.approx(0.25)
    easy = w2.by_level["easy"].vs_baseline
    assert easy is not None and easy.difference == 0 and easy.p_value == 1.0
    assert w2.reasoning_change == pytest.approx(20) and w2.reasoning_ratio == pytest.approx(1.2)
    w8 = rows["w8a8-int8", UNLIMITED_BUDGET]
    assert not w8.emulated and w8.weight_bits == 8
    assert w8.by_level["hard"].vs_baseline is not None
    assert (w8.by_level["hard"].vs_baseline.wins, w8.by_level["hard"].vs_baseline.losses) == (1, 1)
    assert w8.overall.vs_baseline is not None and w8.overall.vs_baseline.p_value == 1.0
    w4 = rows["w4a16", UNLIMITED_BUDGET]
    assert w4.overall.vs_baseline is not None and w4.overall.vs_baseline.p_value == pytest.approx(0.5)
    # budget 64: the same problems solved by every run
    for scheme in STUDY:
        row = rows[scheme, 64]
        assert row.overall.accuracy == pytest.approx(0.5)
        assert scheme == "bf16" or (row.overall.vs_baseline and row.overall.vs_baseline.difference == 0)
    assert sign_test_p(0, 15) == pytest.approx(2 / 2**15)


def test_cell_text_marks_significance() -> None:
    study_cell = {
        "problems": 30,
        "accuracy": 0.6,
        "ci": (0.4, 0.75),
        "vs_baseline": None,
    }
    from evalclient.compare_study import Cell

    assert cell_text(Cell.model_validate(study_cell)) == "60.0 [40.0, 75.0]"


def test_command_prints_the_study_and_draws_both_plots(
    study_runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    assert main([*map(str, study_runs), "--out", str(out), "--resamples", "500"]) == 0
    printed = capsys.readouterr().out
    assert "thinking budget unlimited" in printed and "thinking budget 64" in printed
    assert "w2a16 (emulated)" in printed and "w8a8-int8 (emulated)" not in printed
    report = (out / "report.md").read_text()
    assert "## Study: every run vs the baseline" in report and "### Thinking budget unlimited" in report
    w2_row = next(
        line for line in report.splitlines() if line.startswith("| w2a16 (emulated) | 2 | 80.0 -16.7")
    )
    assert "p=<0.001*" in w2_row and "120 +20 (1.20x)" in w2_row
    # the hard column: 29 -> 17 of 30, p = 2 / 2**12 = 0.00049
    assert "56.7 -40.0" in w2_row
    assert "| w8a8-int8 | 8 |" in report  # measured with the real kernel: not labelled
    assert "- w4a16: weights only: 4-bit weights" in report
    for name in ("accuracy_vs_weight_bits.png", "accuracy_vs_budget.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    study = json.loads((out / "study.json").read_text())
    assert [row["weight_bits"] for row in study["rows"][:4]] == [16, 8, 4, 2]
    assert math.isclose(study["rows"][-1]["overall"]["vs_baseline"]["p_value"], 2 / 2**15)


def test_runs_of_different_benchmarks_are_refused_by_name(
    study_runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_run(tmp_path / "math-run", [record("p0", True)])
    assert main([str(study_runs[0]), str(study_runs[1]), str(other), "--out", str(tmp_path / "cmp")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "different benchmarks" in error and "bf16 (toy-arith)" in error and "math-run (math500)" in error
