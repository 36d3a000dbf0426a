"""``evalclient diagnose`` on run directories: baselines and flips, resume, bad input, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalclient.cli import main as evalclient_main
from evalclient.diagnose.engine import DIAGNOSIS_FILE, load_rows
from evalclient.diagnose.steps import split_response
from evalclient.rundir import SAMPLES_FILE
from tests.evalclient.diagnose.conftest import MakeRun, injected_cases, write_run


def _rules(run: Path, out: Path, *extra: str) -> int:
    return evalclient_main(["diagnose", str(run), "--out", str(out), "--quiet", *extra])


def test_with_a_baseline_flips_come_first_and_both_runs_are_diagnosed(
    make_run: MakeRun, tmp_path: Path
) -> None:
    cases = injected_cases(12)
    exact = [(c.problem, c.problem.trace, f"\\boxed{{{c.problem.answer}}}", True) for c in cases]
    broken = [(c.problem, c.reasoning, c.answer, False) for c in cases]
    # run: samples 0-7 wrong; baseline: right on 0-4 (so 0-4 are flips), wrong on 5-11
    run = make_run("w4a16", broken[:8] + exact[8:])
    baseline = make_run("bf16", exact[:5] + broken[5:])
    out = tmp_path / "diag"
    assert _rules(run, out, "--baseline", str(baseline)) == 0
    rows = load_rows(out)
    assert [(r.role, r.id, r.flip) for r in rows] == (
        [("run", f"p{i:03d}", True) for i in range(5)]
        + [("run", f"p{i:03d}", False) for i in range(5, 8)]
        + [("baseline", f"p{i:03d}", False) for i in range(5, 12)]
    )
    for row in rows:
        case = cases[int(row.id[1:])]
        assert (row.first_faulty_step, row.category) == (case.first_faulty_step, case.category)
        assert row.steps == len(split_response("toy-arith", case.reasoning, case.answer))
        assert row.judge == "rules" and row.sample == int(row.id[1:])
    summary = json.loads((out / "diagnosis_summary.json").read_text())
    assert [r["run"] for r in summary["runs"]] == ["w4a16", "bf16"]
    assert summary["runs"][0]["flips"]["total"] == 5 and summary["runs"][0]["others"]["total"] == 3
    assert sum(summary["runs"][1]["positions"]) == 7
    report = (out / "diagnosis.md").read_text()
    assert "## Flips vs other failures (w4a16)" in report and "| bf16 | 7 |" in report
    assert (out / "diagnosis.png").stat().st_size > 10_000


def test_a_rerun_resumes_and_a_torn_line_is_redone(make_run: MakeRun, tmp_path: Path) -> None:
    cases = injected_cases(8)
    run = make_run("run", [(c.problem, c.reasoning, c.answer, False) for c in cases])
    out = tmp_path / "diag"
    assert _rules(run, out) == 0
    lines = (out / DIAGNOSIS_FILE).read_text().splitlines()
    # as if interrupted: five rows kept, the sixth torn mid-write
    (out / DIAGNOSIS_FILE).write_text("\n".join(lines[:5]) + "\n" + lines[5][:30])
    assert _rules(run, out) == 0
    rows = load_rows(out)
    assert sorted(r.id for r in rows) == [f"p{i:03d}" for i in range(8)]
    assert (out / DIAGNOSIS_FILE).read_text().splitlines()[:5] == lines[:5]


def test_default_output_is_next_to_the_run(make_run: MakeRun) -> None:
    cases = injected_cases(2)
    run = make_run("run", [(c.problem, c.reasoning, c.answer, False) for c in cases])
    assert evalclient_main(["diagnose", str(run), "--quiet"]) == 0
    assert len(load_rows(run.parent / "run-diagnosis")) == 2
    assert not (run / DIAGNOSIS_FILE).exists()


def test_a_run_with_no_wrong_samples_says_so(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = injected_cases(3)
    run = make_run(
        "run", [(c.problem, c.problem.trace, f"\\boxed{{{c.problem.answer}}}", True) for c in cases]
    )
    assert _rules(run, tmp_path / "diag") == 0
    assert "no wrong samples in run" in capsys.readouterr().out
    assert (tmp_path / "diag" / DIAGNOSIS_FILE).read_text() == ""
    assert "| run | 0 |" in (tmp_path / "diag" / "diagnosis.md").read_text()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "no such directory"),
        (lambda d: d.mkdir(), "is not an evalclient run: no run.json and no samples.jsonl"),
        (
            lambda d: (d.mkdir(), (d / "run.json").write_text("{}")),
            "is not an evalclient run: no samples.jsonl",
        ),
        (
            lambda d: (d.mkdir(), (d / "run.json").write_text("{}"), (d / SAMPLES_FILE).write_text("")),
            "not an evalclient run configuration",
        ),
    ],
)
def test_a_directory_that_is_not_a_run_is_named_with_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: object, message: str
) -> None:
    run = tmp_path / "notarun"
    setup(run)  # type: ignore[operator]
    assert _rules(run, tmp_path / "diag") == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_rules_judge_refuses_other_benchmarks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = injected_cases(1)[0]
    run = write_run(tmp_path / "math", [(case.problem, "x", "y", False)], benchmark="math500")
    assert _rules(run, tmp_path / "diag") == 2
    assert "--judge-endpoint" in capsys.readouterr().err


def test_another_judge_in_the_same_out_is_refused(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = injected_cases(2)
    run = make_run("run", [(c.problem, c.reasoning, c.answer, False) for c in cases])
    assert _rules(run, tmp_path / "diag") == 0
    code = _rules(run, tmp_path / "diag", "--judge-endpoint", "http://127.0.0.1:9/v1", "--judge-model", "m")
    assert code == 1 and "holds another diagnosis" in capsys.readouterr().err


def test_a_sample_rerun_with_a_new_response_is_judged_again(tmp_path: Path) -> None:
    cases = injected_cases(4)
    run = write_run(tmp_path / "run", [(c.problem, c.reasoning, c.answer, False) for c in cases])
    out = tmp_path / "diag"
    assert _rules(run, out) == 0
    # the run is redone into the same directory: sample p000 now has another (exact but misanswered) trace
    first = cases[0].problem
    new = write_run(tmp_path / "new", [(first, first.trace, "\\boxed{1}", False)])
    with (run / SAMPLES_FILE).open("a") as sink:
        sink.write((new / SAMPLES_FILE).read_text())
    assert _rules(run, out) == 0
    rows = {row.id: row for row in load_rows(out)}  # the last line per sample wins
    assert len((out / DIAGNOSIS_FILE).read_text().splitlines()) == 5
    assert rows["p000"].category == "answer"
