"""Artifacts through the real server (started from the serving environment), reasoning calibration over
HTTP, and ``quantize verify``: vLLM where this CPU executes the scheme, a plain "needs a GPU" where not."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from quantize.environment import serve_python
from quantize.manifest import read_manifest
from quantize.verify import verify

pytestmark = [pytest.mark.quantize_env, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
API_KEY = "quantize-test"
TOY_ARITH = ROOT / "evalclient" / "data" / "toy-arith.jsonl"


@pytest.fixture(scope="module")
def bf16_server(artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from launcher import SMALL_KV_CACHE, ServerProcess

    python = serve_python()
    if python is None:
        pytest.fail("the serving environment (.venv) is missing: these tests need the real server")
    log_path = tmp_path_factory.mktemp("logs") / "serve-bf16.log"
    server = ServerProcess(
        artifacts["bf16"], "--served-model-name", "reasoner-bf16", "--enforce-eager",
        *SMALL_KV_CACHE, "--max-model-len", "1024",
        python=python, api_key=API_KEY, log_path=log_path, start_timeout=900,
    )  # fmt: skip
    with server:
        yield server


def test_bf16_artifact_answers_a_chat_request(bf16_server) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {API_KEY}"}
    problem = json.loads(TOY_ARITH.read_text().splitlines()[0])
    reply = httpx.post(
        f"{bf16_server.base_url}/chat/completions",
        headers=headers,
        json={"model": "reasoner-bf16", "messages": [{"role": "user", "content": problem["problem"]}],
              "max_tokens": 200, "temperature": 0},
        timeout=120,
    )  # fmt: skip
    assert reply.status_code == 200, reply.text
    message = reply.json()["choices"][0]["message"]
    assert message["reasoning_content"].count("=") >= 2  # column-by-column working
    assert message["content"] == f"\\boxed{{{problem['answer']}}}"
    card = httpx.get(f"{bf16_server.base_url}/models", headers=headers, timeout=30).json()["data"][0]
    assert card["quantization_scheme"] == "bf16"


@pytest.fixture(scope="module")
def reasoning_w8a8(bf16_server, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """``--calib reasoning``: traces of the source (served as its bf16 artifact) over HTTP, then W8A8."""
    from tinymodel import REASONER_DIR

    prompts = tmp_path_factory.mktemp("prompts") / "toy.jsonl"
    prompts.write_text("\n".join(TOY_ARITH.read_text().splitlines()[:14]) + "\n")
    out = tmp_path_factory.mktemp("reasoning") / "w8a8-int8"
    done = subprocess.run(
        [sys.executable, "-m", "quantize", "--model", str(REASONER_DIR), "--scheme", "w8a8-int8",
         "--out", str(out), "--calib", "reasoning", "--prompts", str(prompts), "--num-samples", "10",
         "--max-seq-len", "512", "--trace-max-tokens", "256", "--trace-server", bf16_server.url,
         "--trace-model", "reasoner-bf16", "--trace-api-key", API_KEY],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_reasoning_calibration_holds_full_server_traces(reasoning_w8a8: Path) -> None:
    traces = [
        json.loads(line)
        for line in (reasoning_w8a8 / "calibration" / "traces.jsonl").read_text().splitlines()
    ]
    assert len(traces) == 14  # one per prompt: 8 held out for verify, 6 calibrate
    assert all(t["reasoning_content"].count("\n") >= 2 and "\\boxed{" in t["content"] for t in traces)
    calibration = read_manifest(reasoning_w8a8).calibration
    assert calibration is not None and calibration.source == "reasoning:serve"
    assert calibration.num_samples == 6 and calibration.heldout_samples == 8
    # Every calibration token of a full trace: ~10 tokens per reasoning line, several lines each.
    assert calibration.tokens > calibration.num_samples * 60 and calibration.truncated_samples == 0


def test_verify_serves_w8a8_int8_on_this_cpu(reasoning_w8a8: Path) -> None:
    from rich.console import Console

    report = verify(reasoning_w8a8, Console(quiet=True), max_new_tokens=48)
    assert report.hashes_ok
    assert report.vllm.executed, report.vllm.reason
    assert report.vllm.chat_reply and "|" in report.vllm.chat_reply
    assert report.vllm.token_agreement_vs_source is not None
    assert report.token_agreement is not None and report.token_agreement > 0.5
    assert report.perplexity_source and report.perplexity_artifact


def test_verify_says_plainly_that_w4a16_needs_a_gpu(artifacts: dict[str, Path]) -> None:
    from rich.console import Console

    report = verify(artifacts["w4a16"], Console(quiet=True), max_new_tokens=16)
    assert not report.vllm.executed
    assert "cannot execute w4a16" in report.vllm.reason and "GPU" in report.vllm.reason
    assert report.hashes_ok and report.token_agreement is not None
