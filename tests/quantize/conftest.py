"""Quantize fixtures: every scheme made once per session from the trained tiny reasoner."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from quantize.schemes import SCHEMES
from tinymodel import REASONER_DIR

CALIBRATION_SAMPLES = 8
MAX_SEQ_LEN = 256
ALL_SCHEMES = (*SCHEMES, "w4a16+fp8-kv")  # every registered scheme, and one combination


def trace_records(count: int, seed: int = 0) -> list[dict[str, str]]:
    """Toy-arith traces in the server's split: the reasoning the tiny reasoner was trained to write."""
    from tinymodel.reasoner.problems import boxed, random_problem

    rng = random.Random(seed)
    problems = [random_problem(rng, rng.randint(2, 4)) for _ in range(count)]
    return [{"prompt": p.text, "reasoning_content": p.trace, "content": boxed(p.answer)} for p in problems]


@pytest.fixture(scope="session")
def traces_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("calib") / "traces.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in trace_records(CALIBRATION_SAMPLES + 4)))
    return path


@pytest.fixture(scope="session")
def artifacts(traces_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every scheme of the registry (and one combination), made in this process from one traces file."""
    from rich.console import Console

    from quantize.job import QuantizeRequest, run

    root = tmp_path_factory.mktemp("artifacts")
    made = {}
    for scheme in ALL_SCHEMES:
        out = root / scheme.replace("+", "_")
        request = QuantizeRequest(
            model=str(REASONER_DIR),
            scheme=scheme,
            out=out,
            calib=str(traces_file),
            num_samples=CALIBRATION_SAMPLES,
            max_seq_len=MAX_SEQ_LEN,
            heldout=4,
        )
        run(request, Console(quiet=True))
        made[scheme] = out
    return made


def quantize_tiny(scheme: str, out: Path, traces: Path) -> Path:
    """The tiny reasoner quantized to ``scheme`` in this process (the recover tests' base artifacts)."""
    from rich.console import Console

    from quantize.job import QuantizeRequest, run

    request = QuantizeRequest(
        model=str(REASONER_DIR), scheme=scheme, out=out, calib=str(traces), num_samples=8, max_seq_len=256,
        heldout=4,
    )  # fmt: skip
    run(request, Console(quiet=True))
    return out


@pytest.fixture(scope="session")
def recover_base(traces_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A w4a16 artifact of the tiny reasoner for ``quantize recover`` to retrain."""
    return quantize_tiny("w4a16", tmp_path_factory.mktemp("recover-base") / "w4a16", traces_file)
