"""The benchmark unit: what a benchmark is, declaratively (data source, prompt, extractor, scorer).

Contract (other modules and helpers code against it; add fields, never rename):

- ``Problem(id, prompt, gold, meta)``: one question. ``prompt`` is the complete user message, already
  templated; ``gold`` the reference answer as text; ``meta`` what the data says about the problem
  (``subject``, ``level``, ``difficulty``, ``contest_date``, ...) with ``str | int`` values, used to break
  the metrics down.
- ``Score(extracted, correct, detail)``: what a scorer says about one response. ``extracted`` is the
  answer it found (``None`` when none), ``detail`` a short human note (why it is wrong, which test failed).
- ``Benchmark``: ``name``, ``load(data_dir) -> list[Problem]`` (``data_dir=None`` loads from the hub;
  a directory loads the local copy; either raises ``DataUnavailableError`` with a one-line message
  saying what to download or which ``--data-dir`` to pass), ``score(response_text, problem) -> Score``.
  ``score`` MUST be a picklable top-level function: the runner calls it in worker processes under a
  timeout (Math-Verify and code execution can hang). ``load`` may be a ``functools.partial`` of a
  top-level function. Sampling defaults (``max_tokens``) apply when neither the protocol nor the
  command line sets them. ``configure(option) -> Benchmark`` (optional) makes a variant from the text
  after ``:`` in ``--benchmark name:option`` (e.g. ``livecodebench:v4_v5``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evalclient.errors import EvalclientError
from evalclient.records import Problem, Score


class DataUnavailableError(EvalclientError):
    """The benchmark's data cannot be had; the message says what to download or pass."""


class BenchmarkOptionError(EvalclientError, ValueError):
    """``name:option`` names an option the benchmark does not have."""


Loader = Callable[[Path | None], list[Problem]]
Scorer = Callable[[str, Problem], Score]
Prescorer = Callable[[str, Problem], Score | None]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark as data plus two functions. Instances live in the ``BENCHMARKS`` registry."""

    name: str
    description: str
    load: Loader
    score: Scorer  # top-level, picklable: runs in worker processes under a timeout
    max_tokens: int | None = None  # default completion limit when the protocol and CLI leave it unset
    score_timeout_s: float = 10.0  # per response; code benchmarks need more
    # A cheap verdict run in the client process before ``score`` is sent to a worker: a Score when it
    # is certain, None to fall through. Must agree with ``score`` wherever it answers.
    prescore: Prescorer | None = None
    configure: Callable[[str], Benchmark] | None = None  # variant from ``name:option``
    option: str | None = None  # the option this variant was configured with
    extra: dict[str, str] = field(default_factory=dict)  # resolved settings, written to run.json

    @property
    def key(self) -> str:
        """The name as the run records it: ``name`` or ``name:option``."""
        return f"{self.name}:{self.option}" if self.option else self.name


__all__ = [
    "Benchmark",
    "BenchmarkOptionError",
    "DataUnavailableError",
    "Loader",
    "Problem",
    "Score",
    "Scorer",
]
