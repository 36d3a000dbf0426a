"""`serve --tensor-parallel-size 2`: the tiny reasoner sharded over two vLLM worker processes (vLLM's CPU
backend, one core each), with budget forcing, metrics and drain behaving as with one shard.

This is the serving path multi-GPU deployments take (one frontend, an engine core, N workers exchanging
tensors); on GPUs the exchange goes over NCCL instead of shared memory. Its own server: marked slow."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator

import httpx
import openai
import psutil
import pytest

from launcher import SMALL_KV_CACHE, ServerProcess
from tinymodel import REASONER_DIR

pytestmark = [pytest.mark.server, pytest.mark.slow]
NAME = "tiny-reasoner-tp2"
PROBLEM = "Tom has 12 apples and buys 7 more. How many apples does he have?"


@pytest.fixture(scope="module")
def tp2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # One OpenMP thread per shard, each on its own core (vLLM's CPU backend pins its workers).
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VLLM_CPU_OMP_THREADS_BIND", "0|1")
        server = ServerProcess(
            REASONER_DIR,
            "--served-model-name",
            NAME,
            "--tensor-parallel-size",
            "2",
            "--enforce-eager",
            *SMALL_KV_CACHE,
            "--max-model-len",
            "1024",
            log_path=tmp_path_factory.mktemp("logs") / "serve-tp2.log",
            start_timeout=600,
        )
        server.start()
    yield server
    server.stop()


def test_two_shards_serve_with_budget_forcing_and_metrics(tp2_server: ServerProcess) -> None:
    assert tp2_server._process is not None
    workers = [
        p for p in psutil.Process(tp2_server._process.pid).children(recursive=True) if "Worker_TP" in p.name()
    ]
    assert len(workers) == 2, [p.name() for p in workers]

    client = openai.OpenAI(base_url=tp2_server.base_url, api_key="none", max_retries=0)
    messages = [{"role": "user", "content": PROBLEM}]
    free = client.chat.completions.create(model=NAME, messages=messages, temperature=0, max_tokens=400)
    assert free.choices[0].message.content.strip() == "\\boxed{19}"
    assert free.usage.completion_tokens_details.reasoning_tokens > 16

    capped = client.chat.completions.create(
        model=NAME, messages=messages, temperature=0, max_tokens=400, extra_body={"thinking_token_budget": 16}
    )
    assert capped.usage.completion_tokens_details.reasoning_tokens == 16
    assert capped.model_dump()["choices"][0]["budget_forcing"]["forced_end"] is True

    metrics = httpx.get(f"{tp2_server.url}/metrics").text
    forced = re.search(r"^quantreason:forced_thinking_ends_total\{[^}]*\} (\S+)$", metrics, re.M)
    assert forced and float(forced.group(1)) == 1.0
    assert re.search(r"^vllm:generation_tokens_total\{[^}]*\} (\S+)$", metrics, re.M)


def test_sigterm_drains_and_the_shards_exit(tp2_server: ServerProcess) -> None:
    """Last in this module: it stops the server."""
    process = tp2_server._process
    assert process is not None
    children = psutil.Process(process.pid).children(recursive=True)
    with (
        httpx.Client(timeout=300) as http,
        http.stream(
            "POST",
            f"{tp2_server.base_url}/chat/completions",
            json={
                "model": NAME,
                "messages": [{"role": "user", "content": PROBLEM}],
                "max_tokens": 300,
                "ignore_eos": True,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        ) as response,
    ):
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")  # in flight
        process.send_signal(signal.SIGTERM)
        events = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: {")]
    assert events[-1]["usage"]["completion_tokens"] == 300, "the in-flight request was cut short"
    assert process.wait(timeout=120) == 0
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.name() for p in alive]
