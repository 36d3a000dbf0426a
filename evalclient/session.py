"""One ``evalclient`` run from resolved configuration to ``summary.json`` and ``report.md``."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from evalclient.benchmarks.base import Benchmark
from evalclient.client import ChatClient, EndpointError, RetryPolicy
from evalclient.errors import EvalclientError
from evalclient.metrics import RunSummary, summarize
from evalclient.records import Problem, RunConfig, SampleRecord
from evalclient.report import plot_budget_sweep, render_report
from evalclient.rundir import BUDGET_PLOT_FILE, RunDirectory
from evalclient.runner import Runner, WorkItem, plan
from evalclient.scorer_pool import ScoringPool


class EvalError(EvalclientError):
    """A run cannot start or finish; the message is one line for the user."""


def spread(problems: list[Problem], limit: int) -> list[Problem]:
    """``limit`` problems evenly spaced over the list, so each slice (difficulty, subject) keeps its share."""
    if limit >= len(problems):
        return problems
    return [problems[index * len(problems) // limit] for index in range(limit)]


def load_problems(
    benchmarks: list[Benchmark], data_dir: Path | None, limit: int | None
) -> dict[str, list[Problem]]:
    problems = {}
    for benchmark in benchmarks:
        loaded = benchmark.load(data_dir)
        if not loaded:
            raise EvalError(f"benchmark {benchmark.key} has no problems")
        if len({problem.id for problem in loaded}) != len(loaded):
            raise EvalError(f"benchmark {benchmark.key} has duplicate problem ids")
        problems[benchmark.key] = spread(loaded, limit) if limit else loaded
    return problems


class _RunningScore:
    """Running accuracy for the progress bar."""

    def __init__(self) -> None:
        self.correct = self.scored = self.errors = 0

    def add(self, record: SampleRecord) -> None:
        if record.correct is None:
            self.errors += 1
        else:
            self.scored += 1
            self.correct += bool(record.correct)

    def text(self) -> str:
        accuracy = f"{100 * self.correct / self.scored:.1f}%" if self.scored else "-"
        return f"acc {accuracy}  errors {self.errors}"


async def run_session(
    config: RunConfig,
    benchmarks: list[Benchmark],
    *,
    run_dir: Path,
    api_key: str | None,
    concurrency: int,
    timeout_s: float = 600.0,
    max_retries: int = 4,
    stream: bool = True,
    scoring_workers: int | None = None,
    progress: bool = True,
) -> tuple[RunSummary, Path]:
    started = time.perf_counter()
    problems = load_problems(benchmarks, Path(config.data_dir) if config.data_dir else None, config.limit)
    directory = RunDirectory(run_dir)
    directory.prepare(config)
    done = directory.latest_samples()
    work = plan(config, benchmarks, problems)
    client = ChatClient(
        config.endpoint,
        api_key,
        timeout_s=timeout_s,
        retry=RetryPolicy(max_retries=max_retries),
        stream=stream,
        max_connections=concurrency,
    )
    async with client:
        scoring = ScoringPool(scoring_workers)
        try:
            runner = Runner(config, directory, client, concurrency, scoring)
            pending = runner.pending(work, done)
            if pending:
                try:
                    card = await client.check(config.model)
                except EndpointError as exc:
                    raise EvalError(str(exc)) from None
                if card is not None:
                    directory.write_served_model(card)
                await _run_with_progress(runner, pending, len(work), progress)
        finally:
            scoring.close()
    planned = {item.key for item in work}
    records = [record for key, record in directory.latest_samples().items() if key in planned]
    summary = summarize(config.model_dump(mode="json"), records, wall_s=time.perf_counter() - started)
    summary.served_model = directory.read_served_model()
    directory.write_summary(summary.model_dump(mode="json"))
    plot = plot_budget_sweep(summary, directory.budget_plot_path)
    report = render_report(summary)
    if plot is not None:
        report += f"\n![accuracy vs thinking budget]({BUDGET_PLOT_FILE})\n"
    directory.write_report(report)
    return summary, run_dir


async def _run_with_progress(runner: Runner, pending: list[WorkItem], total: int, show: bool) -> None:
    running = _RunningScore()
    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[score]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not show, refresh_per_second=4) as bar:
        task = bar.add_task("evalclient", total=total, completed=total - len(pending), score=running.text())

        def on_record(record: SampleRecord) -> None:
            running.add(record)
            bar.update(task, advance=1, score=running.text())

        runner.on_record = on_record
        await runner.run(pending)
