"""Every profile against the local stub, whose timings are known: what loadtest measures must match them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from rich.console import Console

from loadtest.profiles import parse_profile
from loadtest.session import LoadTestConfig, run_session
from tests.loadtest.conftest import FIRST_TOKEN_MS, INTERVAL_MS, REASONING, Stub

OUT_TOKENS = 12


def config(stub: Stub, profile: str, tmp_path: Path | None = None, **fields: object) -> LoadTestConfig:
    base: dict[str, object] = {
        "endpoint": stub.base_url,
        "model": "stub",
        "profile": parse_profile(profile),
        "dataset": f"random:16:{OUT_TOKENS}",
        "num_requests": 8,
        "warmup": 1,
        "out": tmp_path,
    }
    return LoadTestConfig(**{**base, **fields})


async def run(cfg: LoadTestConfig) -> list[dict]:
    return await run_session(cfg, Console(quiet=True))


async def test_closed_loop_measures_the_stubs_timings(stub: Stub, tmp_path: Path) -> None:
    [run_doc] = await run(config(stub, "concurrency:4", tmp_path, slo={"ttft": 1000, "tpot": 1000}))
    assert run_doc["completed"] == 8 and run_doc["failed"] == 0
    assert run_doc["max_concurrent_requests"] == 4
    assert run_doc["total_output_tokens"] == 8 * OUT_TOKENS
    assert run_doc["total_reasoning_tokens"] == 8 * REASONING
    assert run_doc["total_answer_tokens"] == 8 * (OUT_TOKENS - REASONING)
    # The stub's clock: first token after FIRST_TOKEN_MS, then one every INTERVAL_MS. The stub cannot send
    # early, so the floors are hard; the ceilings leave room for a busy shared machine.
    assert FIRST_TOKEN_MS <= run_doc["median_ttft_ms"] < FIRST_TOKEN_MS + 200
    assert INTERVAL_MS / 2 < run_doc["median_tpot_ms"] < INTERVAL_MS * 3
    assert INTERVAL_MS / 2 < run_doc["median_itl_ms"] < INTERVAL_MS * 3
    first_answer_ms = FIRST_TOKEN_MS + REASONING * INTERVAL_MS
    assert first_answer_ms - INTERVAL_MS / 2 <= run_doc["median_ttfat_ms"] < first_answer_ms + 200
    assert run_doc["request_goodput"] == pytest.approx(run_doc["request_throughput"])
    assert run_doc["server_metrics_delta"] == {"stub_requests_total": 8.0}  # warm-up and probes excluded
    # The files: one JSON per strategy, the run summary, a CSV row per request, plots.
    saved = json.loads((tmp_path / "concurrency-4.json").read_text())
    assert saved["median_ttft_ms"] == run_doc["median_ttft_ms"] and len(saved["itls"]) == 8
    assert saved["config"]["profile"] == {"kind": "concurrency", "streams": 4}
    rows = list(csv.DictReader((tmp_path / "requests.csv").open()))
    assert len(rows) == 8 and all(row["ok"] == "True" for row in rows)
    assert (tmp_path / "distributions.png").stat().st_size > 0
    assert json.loads((tmp_path / "loadtest.json").read_text())["runs"][0]["completed"] == 8


async def test_open_loop_with_burstiness_and_a_cap(stub: Stub) -> None:
    [run_doc] = await run(config(stub, "rate:50,burstiness=0.5,max-concurrency=2", num_requests=10))
    assert run_doc["completed"] == 10
    assert run_doc["max_concurrent_requests"] <= 2
    assert run_doc["max_concurrency"] == 2 and run_doc["burstiness"] == 0.5 and run_doc["request_rate"] == 50
    # Capped at 2 in flight, requests waited on the client side.
    assert run_doc["mean_client_queue_time_ms"] > 0


async def test_open_loop_bounded_by_duration(stub: Stub) -> None:
    [run_doc] = await run(config(stub, "rate:20", num_requests=None, duration=0.5))
    # About 10 sends in 0.5 s (Poisson); the bound in time stops it, far below the count bound.
    assert 2 <= run_doc["completed"] <= 25


async def test_sweep_runs_synchronous_throughput_then_rates(stub: Stub, tmp_path: Path) -> None:
    documents = await run(config(stub, "sweep,rates=2,max-concurrency=8", tmp_path, num_requests=8))
    names = [d["strategy"] for d in documents]
    assert names[:2] == ["synchronous", "throughput"] and 3 <= len(names) <= 4
    assert documents[0]["max_concurrent_requests"] == 1
    assert documents[1]["max_concurrent_requests"] > 1
    assert documents[1]["request_throughput"] > documents[0]["request_throughput"]
    assert (tmp_path / "latency-vs-load.png").stat().st_size > 0


async def test_completions_api(stub: Stub) -> None:
    [run_doc] = await run(config(stub, "concurrency:2", api="completions", num_requests=4))
    assert run_doc["completed"] == 4 and run_doc["total_output_tokens"] == 4 * OUT_TOKENS


async def test_think_delimiters_split_an_unseparated_stream(inline_think_stub: Stub) -> None:
    cfg = config(inline_think_stub, "concurrency:2", num_requests=4, think_format="deepseek-r1")
    [run_doc] = await run(cfg)
    # Usage still counts the reasoning tokens; the split on </think> is what finds the first answer token.
    first_answer_ms = FIRST_TOKEN_MS + REASONING * INTERVAL_MS
    assert first_answer_ms - INTERVAL_MS / 2 <= run_doc["median_ttfat_ms"] < first_answer_ms + 200
    assert run_doc["median_ttft_ms"] < run_doc["median_ttfat_ms"]
    [unsplit] = await run(config(inline_think_stub, "concurrency:2", num_requests=4))
    # Without the think format the first content token counts as the first answer token.
    assert unsplit["median_ttfat_ms"] == pytest.approx(unsplit["median_ttft_ms"])


def test_an_unknown_think_format_is_refused_with_the_valid_ones(stub: Stub) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"unknown think format 'r2'; valid: deepseek-r1, qwen3, qwq"):
        config(stub, "concurrency:1", think_format="r2")
