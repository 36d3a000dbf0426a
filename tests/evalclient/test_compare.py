"""``evalclient compare`` on constructed runs whose statistics are known in advance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalclient.compare import compare_runs, load_run, main, sign_test_p
from evalclient.records import SampleRecord


def record(problem: str, correct: bool | None, **fields: object) -> SampleRecord:
    values: dict = {
        "benchmark": "math500",
        "problem_id": problem,
        "sample_index": 0,
        "seed": 42,
        "model": "m",
        "endpoint": "http://e/v1",
        "request": {},
        "reasoning": "r",
        "answer": "a",
        "extracted": None,
        "correct": correct,
        "reasoning_tokens": 1000,
        "answer_tokens": 100,
        "completion_tokens": 1100,
    }
    values.update(fields)
    return SampleRecord(**values)


def write_run(directory: Path, records: list[SampleRecord], model: str = "m") -> Path:
    directory.mkdir(parents=True)
    (directory / "run.json").write_text(json.dumps({"model": model, "endpoint": "http://e/v1"}))
    with (directory / "samples.jsonl").open("w") as handle:
        for item in records:
            handle.write(item.model_dump_json() + "\n")
    return directory


def mcnemar_runs(tmp_path: Path) -> tuple[Path, Path]:
    """100 problems: both right on 65, A only on 15, B only on 5, both wrong on 15 (A 80%, B 70%).

    The 15 problems only A solves are all algebra; B reasons 20% shorter everywhere."""
    a, b = [], []
    for index in range(100):
        name = f"p{index}"
        right_a = index < 80
        right_b = index < 65 or 80 <= index < 85
        subject = "algebra" if 65 <= index < 80 else "geometry"
        meta = {"subject": subject, "level": index % 5 + 1}
        a.append(record(name, right_a, meta=meta))
        b.append(record(name, right_b, meta=meta, reasoning_tokens=800, completion_tokens=900))
    return write_run(tmp_path / "bf16", a), write_run(tmp_path / "w4a16", b)


def test_sign_test_matches_binomial_tables() -> None:
    # P(X <= 5 | n=20, p=1/2) = 21700 / 2**20; two-sided doubles it
    assert sign_test_p(5, 15) == pytest.approx(2 * 21700 / 2**20)
    assert sign_test_p(15, 5) == sign_test_p(5, 15)
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(3, 3) == 1.0
    assert sign_test_p(0, 10) == pytest.approx(2 / 1024)


def test_paired_difference_mcnemar_and_bootstrap(tmp_path: Path) -> None:
    run_a, run_b = (load_run(path) for path in mcnemar_runs(tmp_path))
    comparison = compare_runs(run_a, run_b, resamples=4000, seed=1)
    overall = comparison.overall
    assert comparison.paired == 100 and comparison.only_in_a == comparison.only_in_b == 0
    assert overall.accuracy_a == pytest.approx(0.80) and overall.accuracy_b == pytest.approx(0.70)
    assert overall.difference == pytest.approx(-0.10)
    assert (overall.wins, overall.losses) == (5, 15)
    assert overall.test == "exact McNemar"
    assert overall.p_value == pytest.approx(0.041389, abs=1e-5)
    # per-problem differences: 15 x -1, 5 x +1, 80 x 0 -> sd 0.436, se 0.0436: CI ~ -0.10 +- 0.085
    low, high = overall.difference_ci
    assert low == pytest.approx(-0.185, abs=0.025) and high == pytest.approx(-0.015, abs=0.025)
    # Wilson intervals of each run's accuracy
    assert overall.ci_a[0] == pytest.approx(0.7112, abs=1e-3) and overall.ci_a[1] == pytest.approx(
        0.8666, abs=1e-3
    )


def test_losses_concentrate_where_they_were_put(tmp_path: Path) -> None:
    run_a, run_b = (load_run(path) for path in mcnemar_runs(tmp_path))
    comparison = compare_runs(run_a, run_b, resamples=500)
    subjects = {s.value: s for s in comparison.slices if s.key == "subject"}
    assert subjects["algebra"].stats.difference == pytest.approx(-1.0)
    assert subjects["algebra"].share_of_change == pytest.approx(-0.15)
    assert subjects["geometry"].share_of_change == pytest.approx(+0.05)
    # shares of one key add up to the overall change
    levels = [s for s in comparison.slices if s.key == "level"]
    assert sum(s.share_of_change for s in levels) == pytest.approx(comparison.overall.difference)
    assert next(s for s in comparison.slices if s.key == "subject").value == "algebra"  # worst first
    assert len(comparison.biggest_drops) == 10 and all(b < a for _, a, b in comparison.biggest_drops)


def test_length_shift(tmp_path: Path) -> None:
    run_a, run_b = (load_run(path) for path in mcnemar_runs(tmp_path))
    lengths = {shift.field: shift for shift in compare_runs(run_a, run_b, resamples=200).lengths}
    reasoning = lengths["reasoning_tokens"]
    assert (reasoning.mean_a, reasoning.mean_b, reasoning.difference) == (1000, 800, -200)
    assert reasoning.ratio == pytest.approx(0.8) and reasoning.difference_ci == (-200, -200)
    assert lengths["answer_tokens"].difference == 0


def test_several_samples_per_problem_use_the_sign_test(tmp_path: Path) -> None:
    a, b = [], []
    for index in range(30):
        for seed in (42, 43, 44):
            a.append(record(f"p{index}", True, seed=seed))
            # B loses one of three seeds on the first 12 problems, and gains nothing
            b.append(record(f"p{index}", not (index < 12 and seed == 44), seed=seed))
    run_a = load_run(write_run(tmp_path / "a", a))
    run_b = load_run(write_run(tmp_path / "b", b))
    overall = compare_runs(run_a, run_b, resamples=500).overall
    assert overall.test == "exact sign test"
    assert overall.difference == pytest.approx(-12 / 90)
    assert (overall.wins, overall.losses) == (0, 12) and overall.p_value == pytest.approx(2 / 2**12)


def test_errors_are_left_out_and_unpaired_problems_counted(tmp_path: Path) -> None:
    a = [record("p0", True), record("p1", True), record("p2", False)]
    b = [record("p0", True), record("p1", None, error="HTTP 500"), record("p3", True)]
    comparison = compare_runs(
        load_run(write_run(tmp_path / "a", a)), load_run(write_run(tmp_path / "b", b)), resamples=200
    )
    assert comparison.paired == 1 and comparison.errors_b == 1
    assert (comparison.only_in_a, comparison.only_in_b) == (2, 1)


def test_command_writes_report_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_a, run_b = mcnemar_runs(tmp_path)
    out = tmp_path / "cmp"
    assert main([str(run_a), str(run_b), "--out", str(out), "--resamples", "500"]) == 0
    report = (out / "report.md").read_text()
    assert "**Accuracy change: -10.0 points**" in report and "exact McNemar p = 0.0414" in report
    assert "| subject = algebra | 15 | 100.0" in report
    assert "![accuracy_by_benchmark](accuracy_by_benchmark.png)" in report
    for name in ("accuracy_by_benchmark.png", "length_distributions.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "accuracy_vs_budget.png").exists()  # no budgets in these runs
    assert json.loads((out / "comparison.json").read_text())[0]["overall"]["losses"] == 15
    assert "w4a16 vs bf16: -10.0 points" in capsys.readouterr().out


def test_budget_sweep_is_paired_per_budget_and_plotted(tmp_path: Path) -> None:
    def sweep(model: str, solved: dict[int | None, int]) -> Path:
        records = [
            record(f"t{index}", index < count, benchmark="toy-arith", thinking_budget=budget)
            for budget, count in solved.items()
            for index in range(20)
        ]
        return write_run(tmp_path / model, records, model)

    base = sweep("bf16", {0: 2, 64: 10, -1: 18})
    quant = sweep("int4", {0: 1, 64: 6, -1: 17})
    out = tmp_path / "cmp"
    assert main([str(base), str(quant), "--out", str(out), "--resamples", "200"]) == 0
    comparison = json.loads((out / "comparison.json").read_text())[0]
    budgets = {
        s["value"]: s["stats"]["difference"] for s in comparison["slices"] if s["key"] == "thinking_budget"
    }
    assert budgets == pytest.approx({"0": -0.05, "64": -0.2, "unlimited": -0.05})
    assert (out / "accuracy_vs_budget.png").read_bytes()[:4] == b"\x89PNG"


def test_three_runs_compare_against_the_first(tmp_path: Path) -> None:
    run_a, run_b = mcnemar_runs(tmp_path)
    out = tmp_path / "cmp"
    assert main([str(run_a), str(run_b), str(run_a), "--labels", "A,B,A2", "--out", str(out)]) == 0
    comparisons = json.loads((out / "comparison.json").read_text())
    assert [c["run_b"] for c in comparisons] == ["B", "A2"]
    assert comparisons[1]["overall"]["difference"] == 0 and comparisons[1]["overall"]["p_value"] == 1.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["only-one"], "at least two"),
        (["missing-a", "missing-b"], "no such run directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / a) for a in arguments]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_runs_without_shared_problems_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_run(tmp_path / "a", [record("p0", True)])
    b = write_run(tmp_path / "b", [record("q0", True)])
    assert main([str(a), str(b), "--out", str(tmp_path / "cmp")]) == 2
    assert "share no scored problem" in capsys.readouterr().err


def test_a_torn_last_line_is_skipped_and_the_file_left_alone(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "a", [record("p0", True), record("p1", False)])
    with (run_dir / "samples.jsonl").open("a") as handle:
        handle.write('{"benchmark": "math500", "problem_')
    before = (run_dir / "samples.jsonl").read_bytes()
    assert len(load_run(run_dir).records) == 2
    assert (run_dir / "samples.jsonl").read_bytes() == before
