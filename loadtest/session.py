"""One ``loadtest`` invocation: check the endpoint, build prompts, warm up, run each strategy of the
profile, and write everything it measured (also when stopped with Ctrl-C)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loadtest import datasets, report, server_metrics
from loadtest.client import Api, EndpointError, RequestOptions, StreamingClient
from loadtest.datasets import Prompt
from loadtest.profiles import ConcurrencyProfile, RateProfile, Strategy, SweepProfile
from loadtest.runner import Limits, StrategyResult, run_strategy
from loadtest.summary import Slo, per_request_lists, summarize
from reasoning_formats import get_think_format

UNBOUNDED_REQUESTS = 1_000_000  # the count bound of a --duration run


class LoadTestConfig(BaseModel):
    """Everything a run was asked to do; written next to its results."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    endpoint: str
    model: str
    api: Api = "chat"
    profile: ConcurrencyProfile | RateProfile | SweepProfile = Field(discriminator="kind")
    dataset: str = "random:256:256"
    max_tokens: int | None = None  # for file datasets (random:IN:OUT sets its own)
    num_requests: int | None = None
    duration: float | None = None
    warmup: int = 1
    slo: dict[str, float] | None = None
    api_key: str | None = Field(None, exclude=True)
    think_format: str | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)
    temperature: float | None = None
    ignore_eos: bool = True
    request_timeout: float = 600.0
    seed: int = 0
    out: Path | None = None

    @field_validator("think_format")
    @classmethod
    def _known_think_format(cls, name: str | None) -> str | None:
        if name is not None:
            get_think_format(name)  # raises, listing the valid names
        return name


def request_limits(config: LoadTestConfig) -> Limits:
    if config.num_requests is None and config.duration is None:
        return Limits(max_requests=100)
    return Limits(
        max_requests=config.num_requests or UNBOUNDED_REQUESTS,
        max_duration=config.duration if config.duration is not None else math.inf,
    )


async def _probe(client: StreamingClient, prompt: str, config: LoadTestConfig) -> dict[str, Any]:
    body: dict[str, Any] = {"model": config.model, "max_tokens": 1}
    if config.api == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    if client.options.ignore_eos:
        body["ignore_eos"] = True
    return await client.complete(body)


async def _prepare(client: StreamingClient, config: LoadTestConfig, console: Console) -> Iterator[Prompt]:
    """Check the endpoint answers a real request, then make the prompt stream."""
    card = await client.check()
    try:
        await _probe(client, "Hello", config)
    except EndpointError as exc:
        if not client.options.ignore_eos:
            raise
        # Not every server takes vLLM's ignore_eos: drop it and say so.
        client.options = dataclasses.replace(client.options, ignore_eos=False)
        try:
            await _probe(client, "Hello", config)
        except EndpointError:
            raise exc from None
        console.print("[yellow]the endpoint refuses ignore_eos: outputs may end before OUT tokens[/yellow]")
    random_spec = datasets.parse_random(config.dataset)
    if random_spec is not None:

        async def count(text: str) -> int:
            usage = (await _probe(client, text, config)).get("usage") or {}
            if "prompt_tokens" not in usage:
                raise EndpointError(
                    "the endpoint reports no usage.prompt_tokens: random:IN:OUT cannot size prompts"
                )
            return int(usage["prompt_tokens"])

        scale = await datasets.calibrate(count, config.seed)
        needed = random_spec.input_tokens + random_spec.output_tokens
        if (limit := card.get("max_model_len")) and needed > limit:
            raise EndpointError(
                f"{config.dataset} needs {needed} tokens: more than the model's length {limit}"
            )
        return datasets.random_prompts(random_spec, scale, config.seed)
    texts = datasets.load_prompts(datasets.benchmark_path(config.dataset))
    return datasets.cycle_prompts(texts, config.max_tokens, config.seed)


def strategy_document(
    config: LoadTestConfig, result: StrategyResult, slo: Slo | None, metrics_delta: dict[str, float] | None
) -> dict[str, Any]:
    """One strategy's JSON: vLLM bench serve's fields plus the reasoning split and client health."""
    strategy = result.strategy
    document: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y%m%d-%H%M%S"),
        "backend": f"loadtest-{config.api}",
        "model_id": config.model,
        "endpoint": config.endpoint,
        "strategy": strategy.name,
        "num_prompts": len(result.records),
        "request_rate": "inf" if strategy.rate is None or math.isinf(strategy.rate) else strategy.rate,
        "burstiness": strategy.burstiness,
        "max_concurrency": strategy.concurrency,
        "interrupted": result.interrupted,
    }
    document.update(summarize(result.records, result.duration, slo))
    document.update(result.health.as_dict())
    document["client_warning"] = result.health.warning()
    document["server_metrics_delta"] = metrics_delta
    document.update(per_request_lists(result.records))
    document["config"] = json.loads(config.model_dump_json())
    return document


async def run_session(config: LoadTestConfig, console: Console) -> list[dict[str, Any]]:
    """Run the profile; returns one document per strategy (also written under ``config.out``)."""
    think_format = get_think_format(config.think_format) if config.think_format else None
    options = RequestOptions(
        api=config.api,
        model=config.model,
        ignore_eos=config.ignore_eos,
        temperature=config.temperature,
        extra_body=config.extra_body,
    )
    slo = Slo(config.slo) if config.slo else None
    limits = request_limits(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def interrupted() -> None:
        console.print("[yellow]stopping: writing what was measured (Ctrl-C again to abort)[/yellow]")
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)

    loop.add_signal_handler(signal.SIGINT, interrupted)
    documents: list[dict[str, Any]] = []
    log = report.RequestLog(config.out / "requests.csv") if config.out else None
    try:
        async with StreamingClient(
            config.endpoint,
            options,
            api_key=config.api_key,
            think_format=think_format,
            request_timeout=config.request_timeout,
        ) as client:
            prompts = await _prepare(client, config, console)
            if config.warmup:
                console.print(f"warm-up: {config.warmup} request(s), not counted")
                warmup = Strategy(name="warmup", concurrency=min(config.warmup, 8))
                await run_strategy(client, prompts, warmup, Limits(config.warmup), stop=stop)
            profile = config.profile.strategies()
            strategy = next(profile)
            while not stop.is_set():
                before = await server_metrics.scrape(client.session, config.endpoint)
                result = await _run_with_progress(
                    client, prompts, strategy, limits, stop, config, log, console
                )
                after = await server_metrics.scrape(client.session, config.endpoint)
                delta = (
                    server_metrics.delta(before, after) if before is not None and after is not None else None
                )
                document = strategy_document(config, result, slo, delta)
                documents.append(document)
                if config.out:
                    report.write_json(config.out / f"{strategy.name}.json", document)
                if warning := document["client_warning"]:
                    console.print(f"[yellow]warning: {warning}[/yellow]")
                try:
                    strategy = profile.send(document)
                except StopIteration:
                    break
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if log is not None:
            log.close()
        if documents and config.out:
            _write_outputs(config, documents)
    return documents


async def _run_with_progress(
    client: StreamingClient,
    prompts: Iterator[Prompt],
    strategy: Strategy,
    limits: Limits,
    stop: asyncio.Event,
    config: LoadTestConfig,
    log: report.RequestLog | None,
    console: Console,
) -> StrategyResult:
    total = None if limits.max_requests == UNBOUNDED_REQUESTS else limits.max_requests
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, refresh_per_second=2, transient=True) as progress:
        task = progress.add_task(strategy.name, total=total)

        def on_record(record: Any) -> None:
            progress.advance(task)
            if log is not None:
                log.append(strategy.name, record)

        started = time.perf_counter()
        result = await run_strategy(
            client, prompts, strategy, limits, stop=stop, seed=config.seed, on_record=on_record
        )
    failed = sum(not r.ok for r in result.records)
    console.print(
        f"{strategy.name}: {len(result.records) - failed} completed, {failed} failed "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return result


def _write_outputs(config: LoadTestConfig, documents: list[dict[str, Any]]) -> None:
    assert config.out is not None
    summaries = [{k: v for k, v in d.items() if not isinstance(v, list) and k != "config"} for d in documents]
    report.write_json(
        config.out / "loadtest.json", {"config": json.loads(config.model_dump_json()), "runs": summaries}
    )
    report.plot_distributions(documents, config.out / "distributions.png")
    if len(documents) > 1:
        report.plot_sweep(documents, config.out / "latency-vs-load.png")
