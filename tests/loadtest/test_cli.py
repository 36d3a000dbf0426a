"""The command line as a user runs it: bad input is one line and a non-zero exit, Ctrl-C keeps what was
measured, ``compare`` puts runs side by side."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launcher import free_port
from tests.loadtest.conftest import Stub

LOADTEST = [sys.executable, "-m", "loadtest"]


def loadtest(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOADTEST, *args], capture_output=True, text=True, timeout=timeout)


def assert_one_line_failure(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("loadtest: ") and message in last, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "burst:4"], "unknown kind 'burst'"),
        (["--profile", "concurrency:-2"], "greater than 0"),
        (["--dataset", "random:10"], "random:IN:OUT"),
        (["--slo", "ttft=5"], "--slo"),
        (["--extra-body", "{nope"], "--extra-body is not JSON"),
        (["--num-requests", "0"], "--num-requests must be positive"),
    ],
)
def test_malformed_arguments(args: list[str], message: str) -> None:
    result = loadtest("--endpoint", "http://127.0.0.1:9/v1", "--model", "m", *args)
    assert_one_line_failure(result, message)


def test_unreachable_endpoint() -> None:
    result = loadtest("--endpoint", f"http://127.0.0.1:{free_port()}/v1", "--model", "m")
    assert_one_line_failure(result, "cannot reach")


def test_wrong_model(stub: Stub) -> None:
    result = loadtest("--endpoint", stub.base_url, "--model", "gpt-9")
    assert_one_line_failure(result, "does not serve model 'gpt-9' (it serves: stub)")


def test_missing_dataset(stub: Stub) -> None:
    result = loadtest("--endpoint", stub.base_url, "--model", "stub", "--dataset", "no-such-benchmark")
    assert_one_line_failure(result, "toy-arith")  # the message lists the benchmarks it knows


def test_ctrl_c_writes_what_was_measured(stub: Stub, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--endpoint", stub.base_url, "--model", "stub", "--profile", "concurrency:2"]
    args += ["--dataset", "random:8:40", "--duration", "60", "--out", str(out)]
    process = subprocess.Popen([*LOADTEST, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    # Each request takes ~0.2 s on the stub; wait until some have finished.
    while time.monotonic() < deadline and _rows(out / "requests.csv") < 4:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    document = json.loads((out / "concurrency-2.json").read_text())
    assert document["interrupted"] is True
    assert document["completed"] >= 1 and document["failed"] == 0  # abandoned requests are not failures
    assert (out / "loadtest.json").exists() and (out / "distributions.png").exists()


def _rows(path: Path) -> int:
    return max(len(path.read_text().splitlines()) - 1, 0) if path.exists() else 0


def test_run_then_compare(stub: Stub, tmp_path: Path) -> None:
    for name, streams in (("one", "1"), ("four", "4")):
        result = loadtest(
            "--endpoint", stub.base_url, "--model", "stub", "--profile", f"concurrency:{streams}",
            "--dataset", "random:8:8", "--num-requests", "8", "--out", str(tmp_path / name),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "requests/s" in result.stdout and "1st answer ms" in result.stdout
    result = loadtest(
        "compare", str(tmp_path / "one" / "loadtest.json"), str(tmp_path / "four" / "concurrency-4.json"),
        "--out", str(tmp_path / "cmp"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "request throughput" in result.stdout and "x)" in result.stdout  # ratios to the first run
    compared = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert compared["runs"] == ["loadtest", "concurrency-4"]
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 0


def test_compare_rejects_a_file_that_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}")
    assert_one_line_failure(loadtest("compare", str(tmp_path / "x.json")), "not a loadtest or vllm bench")


def test_compare_reads_a_vllm_bench_serve_result(tmp_path: Path) -> None:
    # The fields `vllm bench serve --save-result` writes (a subset): compare needs no loadtest-only field.
    vllm = {"backend": "openai-chat", "request_throughput": 4.0, "output_throughput": 400.0,
            "median_ttft_ms": 20.0, "median_tpot_ms": 5.0, "median_itl_ms": 5.0, "median_e2el_ms": 500.0,
            "p99_ttft_ms": 40.0, "failed": 0}  # fmt: skip
    ours = {**vllm, "backend": "loadtest-chat", "request_throughput": 5.0, "median_ttfat_ms": 80.0}
    (tmp_path / "vllm.json").write_text(json.dumps(vllm))
    (tmp_path / "ours.json").write_text(json.dumps(ours))
    result = loadtest("compare", str(tmp_path / "vllm.json"), str(tmp_path / "ours.json"))
    assert result.returncode == 0, result.stderr
    assert "1.25x" in result.stdout  # request throughput 5 / 4
