"""The benchmark registry: ``BENCHMARKS`` maps a name to its ``Benchmark`` unit.

``get_benchmark("name")``, ``get_benchmark("name:option")`` (a variant, e.g. ``livecodebench:v4_v5``) or
``get_benchmark("path/to/file.jsonl")`` (any JSONL with problem/answer fields). To add a benchmark,
define its ``Benchmark`` in a module of this package and list it in ``_UNITS`` below.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from evalclient.benchmarks.base import (
    Benchmark,
    BenchmarkOptionError,
    DataUnavailableError,
    Problem,
    Score,
)
from evalclient.benchmarks.math import MATH_BENCHMARKS, jsonl_benchmark
from evalclient.errors import EvalclientError

_UNITS: list[Benchmark] = [*MATH_BENCHMARKS]

# GPQA-Diamond and LiveCodeBench live in their own modules (``gpqa.GPQA_DIAMOND``,
# ``livecodebench.LIVECODEBENCH``); registered when present.
for _module, _attribute in (("gpqa", "GPQA_DIAMOND"), ("livecodebench", "LIVECODEBENCH")):
    if importlib.util.find_spec(f"evalclient.benchmarks.{_module}") is not None:
        _UNITS.append(getattr(importlib.import_module(f"evalclient.benchmarks.{_module}"), _attribute))

BENCHMARKS: dict[str, Benchmark] = {unit.name: unit for unit in _UNITS}


class UnknownBenchmarkError(EvalclientError, ValueError):
    """A benchmark name the registry does not have; the message lists the valid ones."""


def get_benchmark(spec: str) -> Benchmark:
    """The benchmark named by ``spec``: a registry name, ``name:option``, or a ``.jsonl`` path."""
    if spec.endswith(".jsonl"):
        return jsonl_benchmark(Path(spec))
    name, _, option = spec.partition(":")
    if name not in BENCHMARKS:
        valid = ", ".join(sorted(BENCHMARKS))
        raise UnknownBenchmarkError(f"unknown benchmark {spec!r}; valid: {valid}, or a path to a .jsonl file")
    unit = BENCHMARKS[name]
    if not option:
        return unit
    if unit.configure is None:
        raise BenchmarkOptionError(f"benchmark {name!r} takes no option (got {option!r})")
    return unit.configure(option)


__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "BenchmarkOptionError",
    "DataUnavailableError",
    "Problem",
    "Score",
    "UnknownBenchmarkError",
    "get_benchmark",
]
