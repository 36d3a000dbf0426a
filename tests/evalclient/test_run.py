"""The run against the instant stub: records, retries, errors, resume after a kill, clear CLI errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from evalclient.benchmarks import get_benchmark
from evalclient.cli import main, parse_budgets
from evalclient.records import SampleRecord
from evalclient.session import spread
from evalclient.stub import StubThread

TOY = get_benchmark("toy-arith").load(None)


def toy_answers(right: int, limit: int = len(TOY)) -> dict[str, str]:
    """Of the ``limit`` problems a run with ``--limit`` asks, the first ``right`` are answered right
    (reasoning in the reasoning field), the rest wrong."""
    return {
        p.prompt: f"<think>\nwork it out\n</think>\n\n\\boxed{{{p.gold if i < right else int(p.gold) + 1}}}"
        for i, p in enumerate(spread(TOY, limit))
    }


def run_cli(stub: StubThread, out: Path, *extra: str) -> int:
    return main(
        ["--endpoint", stub.base_url, "--model", "stub", "--benchmark", "toy-arith", "--out", str(out),
         "--quiet", *extra]
    )  # fmt: skip


def read_samples(out: Path) -> list[SampleRecord]:
    return [
        SampleRecord.model_validate_json(line) for line in (out / "samples.jsonl").read_text().splitlines()
    ]


def test_a_run_writes_records_summary_and_report(stub: Callable[..., StubThread], tmp_path: Path) -> None:
    endpoint = stub(toy_answers(right=6, limit=8))
    assert run_cli(endpoint, tmp_path, "--limit", "8", "--seeds", "1,2", "--thinking-budget", "0,32") == 0
    records = read_samples(tmp_path)
    assert len(records) == 8 * 2 * 2
    assert {r.thinking_budget for r in records} == {0, 32}
    first = records[0]
    assert first.reasoning == "work it out" and first.answer.startswith("\\boxed")
    assert first.request["thinking_token_budget"] in (0, 32) and first.request["seed"] in (1, 2)
    assert first.ttft_s is not None and first.latency_s >= first.ttft_s
    assert first.reasoning_tokens and first.answer_tokens and first.meta["difficulty"] == "easy"
    assert {r.meta["difficulty"] for r in records} == {"easy", "medium", "hard"}  # --limit spreads
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [r["thinking_budget"] for r in summary["results"]] == [0, 32]
    assert summary["results"][0]["overall"]["accuracy"] == pytest.approx(6 / 8)
    assert summary["results"][0]["overall"]["per_seed"] == {"1": 0.75, "2": 0.75}
    report = (tmp_path / "report.md").read_text()
    assert "| toy-arith | 0 | 8 | 16 | 0 | 75.0 [" in report
    assert (tmp_path / "accuracy_vs_budget.png").stat().st_size > 1000


def test_n_samples_give_pass_at_k(stub: Callable[..., StubThread], tmp_path: Path) -> None:
    endpoint = stub(toy_answers(right=1, limit=2))
    assert run_cli(endpoint, tmp_path, "--limit", "2", "--n", "4") == 0
    records = read_samples(tmp_path)
    assert sorted(r.request["seed"] for r in records if r.problem_id == records[0].problem_id) == [
        42,
        43,
        44,
        45,
    ]
    overall = json.loads((tmp_path / "summary.json").read_text())["results"][0]["overall"]
    assert set(overall["pass_at_k"]) == {"1", "2", "4"} and overall["maj_at_k"]["4"] == 0.5


def test_transient_failures_are_retried(stub: Callable[..., StubThread], tmp_path: Path) -> None:
    endpoint = stub(toy_answers(right=4, limit=4), fail_count=3, fail_status=429)
    assert run_cli(endpoint, tmp_path, "--limit", "4", "--concurrency", "1") == 0
    records = read_samples(tmp_path)
    assert all(r.correct for r in records)
    assert records[0].attempts == 4
    assert endpoint.state.requests == 4 + 3


def test_a_sample_that_keeps_failing_is_an_error_not_a_wrong_answer(
    stub: Callable[..., StubThread], tmp_path: Path
) -> None:
    data = tmp_path / "mine.jsonl"
    data.write_text('{"problem": "1+1? FAIL-ALWAYS", "answer": "2"}\n{"problem": "2+2?", "answer": "4"}\n')
    endpoint = stub(
        {"2+2?\nPlease reason step by step, and put your final answer within \\boxed{}.": "\\boxed{4}"}
    )
    code = main(
        ["--endpoint", endpoint.base_url, "--model", "stub", "--benchmark", str(data), "--out",
         str(tmp_path / "run"), "--quiet", "--max-retries", "2"]
    )  # fmt: skip
    assert code == 0
    failed, ok = sorted(read_samples(tmp_path / "run"), key=lambda r: r.correct is not None)
    assert failed.correct is None and "HTTP 500" in failed.error and failed.attempts == 3
    assert ok.correct is True
    overall = json.loads((tmp_path / "run" / "summary.json").read_text())["results"][0]["overall"]
    assert overall["accuracy"] == 1.0 and overall["errors"] == 1
    assert "injected failure" in (tmp_path / "run" / "report.md").read_text()


def test_resume_after_a_kill_never_reasks_a_finished_sample(
    stub: Callable[..., StubThread], tmp_path: Path
) -> None:
    endpoint = stub(toy_answers(right=240), delay_s=0.05)
    command = [sys.executable, "-m", "evalclient", "--endpoint", endpoint.base_url, "--model", "stub",
               "--benchmark", "toy-arith", "--limit", "40", "--concurrency", "2", "--out", str(tmp_path),
               "--quiet"]  # fmt: skip
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2], start_new_session=True)
    samples = tmp_path / "samples.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not samples.exists() or len(samples.read_text().splitlines()) < 6):
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(read_samples(tmp_path))
    assert 6 <= finished < 40
    asked_before = endpoint.state.requests
    assert run_cli(endpoint, tmp_path, "--limit", "40", "--concurrency", "2") == 0
    records = read_samples(tmp_path)
    assert len(records) == 40 and len({r.key for r in records}) == 40
    # The rerun asks exactly the samples the killed run had not finished.
    assert endpoint.state.requests - asked_before == 40 - finished
    assert Counter(r.correct for r in records) == {True: 40}


def test_a_torn_last_line_is_dropped_and_asked_again(stub: Callable[..., StubThread], tmp_path: Path) -> None:
    endpoint = stub(toy_answers(right=240))
    assert run_cli(endpoint, tmp_path, "--limit", "3") == 0
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    (tmp_path / "samples.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])
    assert run_cli(endpoint, tmp_path, "--limit", "3") == 0
    assert len(read_samples(tmp_path)) == 3 and endpoint.state.requests == 4


def test_resume_refuses_a_different_run(stub: Callable[..., StubThread], tmp_path: Path, capsys) -> None:
    endpoint = stub()
    assert run_cli(endpoint, tmp_path, "--limit", "1") == 0
    assert run_cli(endpoint, tmp_path, "--limit", "1", "--temperature", "0.6") == 1
    assert "differs in: sampling" in capsys.readouterr().err


def test_reasoning_is_split_on_delimiters_when_the_endpoint_sends_no_reasoning_field(
    stub: Callable[..., StubThread], tmp_path: Path
) -> None:
    endpoint = stub(toy_answers(right=2, limit=2), reasoning_field=False)
    assert run_cli(endpoint, tmp_path, "--limit", "2", "--no-stream") == 0
    records = read_samples(tmp_path)
    assert all(
        r.reasoning == "\nwork it out\n" and r.answer.startswith("\\boxed") and r.correct for r in records
    )
    assert records[0].ttft_s is None


def test_scoring_the_full_output(stub: Callable[..., StubThread], tmp_path: Path) -> None:
    # The answer says 7, the reasoning ends with a boxed 6; scoring the full output still takes the last box.
    data = tmp_path / "p.jsonl"
    data.write_text('{"problem": "q", "answer": "7"}\n')
    prompt = "q\nPlease reason step by step, and put your final answer within \\boxed{}."
    endpoint = stub({prompt: "<think>maybe \\boxed{6}</think>\n\nIt is 7."})
    base = ["--endpoint", endpoint.base_url, "--model", "stub", "--benchmark", str(data), "--quiet"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert main([*base, "--out", str(tmp_path / "f"), "--score-on", "full"]) == 0
    assert read_samples(tmp_path / "a")[0].correct is True
    assert read_samples(tmp_path / "f")[0].extracted == "6"


def test_the_unlimited_row_sends_minus_one_and_the_default_row_sends_nothing(
    stub: Callable[..., StubThread], tmp_path: Path
) -> None:
    endpoint = stub(toy_answers(right=2, limit=2))
    assert run_cli(endpoint, tmp_path, "--limit", "2", "--thinking-budget", "16,unlimited,default") == 0
    sent = {
        r.thinking_budget: r.request.get("thinking_token_budget", "absent") for r in read_samples(tmp_path)
    }
    assert sent == {16: 16, -1: -1, None: "absent"}
    report = (tmp_path / "report.md").read_text()
    assert "| toy-arith | unlimited |" in report and "| toy-arith | default |" in report


def test_parse_budgets() -> None:
    assert parse_budgets("0,64,128,unlimited,default") == [0, 64, 128, -1, None]
    assert parse_budgets("-1,none") == [-1, None]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmark", "nope"], "evalclient: unknown benchmark 'nope'; valid:"),
        (
            ["--benchmark", "aime25", "--data-dir", "/no/such/dir"],
            "evalclient: --data-dir: /no/such/dir is not",
        ),
        (["--benchmark", "toy-arith", "--thinking-budget", "lots"], "evalclient: --thinking-budget: 'lots'"),
        (["--benchmark", "toy-arith", "--endpoint", "http://127.0.0.1:9/v1"], "evalclient: cannot reach"),
        (["--benchmark", "toy-arith", "--protocol", "nope"], "usage:"),
        (
            ["--benchmark", "toy-arith", "--think-format", "r2"],
            "evalclient: --think-format: unknown think format 'r2'; valid: deepseek-r1, qwen3, qwq",
        ),
        (["--benchmark", "aime25"], "evalclient: cannot load yentinglin/aime_2025 from the Hugging Face hub"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(args: list[str], message: str, tmp_path: Path) -> None:
    base = {"--endpoint": "http://127.0.0.1:9/v1", "--model": "m", "--out": str(tmp_path / "r")}
    for flag in args[::2]:
        base.pop(flag, None)
    argv = [*(x for pair in base.items() for x in pair), *args]
    result = subprocess.run(
        [sys.executable, "-m", "evalclient", *argv, "--quiet"],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    if not message.startswith("usage"):
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_model_the_endpoint_does_not_serve(stub: Callable[..., StubThread], tmp_path: Path, capsys) -> None:
    endpoint = stub()
    code = main(["--endpoint", endpoint.base_url, "--model", "other", "--benchmark", "toy-arith",
                 "--out", str(tmp_path), "--quiet", "--limit", "1"])  # fmt: skip
    assert code == 1
    assert "does not serve model 'other'; it serves: stub" in capsys.readouterr().err
