"""Scoring in worker processes, each response under a wall-clock timeout.

Math-Verify (sympy) and code execution can hang on adversarial output; a worker that overruns its
timeout is killed with its pool and the pool is rebuilt, so a run never hangs on scoring. At most one
response per worker is handed to the pool at a time, so the timeout measures scoring, not queueing;
and a fresh pool's workers are started and warmed (imports) before the first timed call. The pool starts
at the first response that needs it: a run whose answers the client scores itself (integers, exact
matches) starts no worker. Scores that were in flight in a killed pool are retried once in the new one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import os
from concurrent.futures.process import BrokenProcessPool

from evalclient.benchmarks.base import Scorer
from evalclient.errors import EvalclientError
from evalclient.records import Problem, Score
from lifeline import die_with_parent


class ScoringTimeoutError(EvalclientError):
    """A scorer ran past its time limit (its worker was replaced)."""


def _warm() -> None:
    """Import the heavy scorers once per worker, before the first timed call."""
    with contextlib.suppress(ImportError):
        import latex2sympy2_extended  # noqa: F401
        import math_verify  # noqa: F401


class ScoringPool:
    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers or max(1, min(4, os.cpu_count() or 1))
        self._context = multiprocessing.get_context("spawn")  # fork after threads/asyncio is unsafe
        self._slots = asyncio.Semaphore(self._workers)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._warming: list[concurrent.futures.Future[None]] = []

    def _new_pool(
        self,
    ) -> tuple[concurrent.futures.ProcessPoolExecutor, list[concurrent.futures.Future[None]]]:
        # Workers die with this process even when it is killed (SIGKILL): no orphan keeps scoring, and
        # multiprocessing's resource tracker, whose pipe the workers hold too, then exits as well.
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=self._context,
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )
        return pool, [pool.submit(_warm) for _ in range(self._workers)]

    def _restart(self, broken: concurrent.futures.ProcessPoolExecutor) -> None:
        if broken is not self._pool:
            return  # another task already rebuilt it
        for process in list(getattr(broken, "_processes", {}).values()):
            process.kill()
        broken.shutdown(wait=False, cancel_futures=True)
        self._pool, self._warming = self._new_pool()

    async def _wait_until_warm(self) -> None:
        warming = [asyncio.wrap_future(future) for future in self._warming if not future.done()]
        if warming:
            await asyncio.gather(*warming, return_exceptions=True)

    async def score(self, scorer: Scorer, text: str, problem: Problem, timeout_s: float) -> Score:
        loop = asyncio.get_running_loop()
        async with self._slots:
            for _ in range(2):
                if self._pool is None:
                    self._pool, self._warming = self._new_pool()
                await self._wait_until_warm()
                pool = self._pool
                try:
                    future = loop.run_in_executor(pool, scorer, text, problem)
                    return await asyncio.wait_for(future, timeout_s)
                except TimeoutError:
                    self._restart(pool)
                    raise ScoringTimeoutError(f"scoring took longer than {timeout_s:g} s") from None
                except BrokenProcessPool:
                    self._restart(pool)
                except asyncio.CancelledError:
                    if pool is self._pool:
                        raise  # the run itself is being cancelled
                    # Another response's timeout rebuilt the pool under this one: score it again.
        raise ScoringTimeoutError("the scoring worker died twice")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
