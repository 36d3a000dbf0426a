"""One data directory for every tool: --data-dir, else $QUANTREASON_DATA_DIR, else the carried copies."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from benchmark_data import CARRIED_DIR, DATA_DIR_ENV, chosen_data_dir, data_dir
from evalclient.benchmarks import get_benchmark
from loadtest.datasets import benchmark_path
from quantize.gather import reasoning_prompts
from quantize.request import QuantizeRequest


def test_the_carried_files_are_the_ones_the_readme_names() -> None:
    listed = dict(
        re.findall(
            r"^\| `([\w.-]+\.jsonl)` \|.*\| `([0-9a-f]{64})` \|$",
            (CARRIED_DIR / "README.md").read_text(),
            re.M,
        )
    )
    carried = {path.name for path in CARRIED_DIR.glob("*.jsonl")}
    assert set(listed) == carried == {"math500.jsonl", "gsm8k_test.jsonl", "aime24.jsonl"}
    for name, sha256 in listed.items():
        assert hashlib.sha256((CARRIED_DIR / name).read_bytes()).hexdigest() == sha256, name


def test_flag_then_variable_then_the_carried_copies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert chosen_data_dir() is None and data_dir() == CARRIED_DIR
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert data_dir() == tmp_path
    assert data_dir(tmp_path / "flag") == tmp_path / "flag"


@pytest.fixture
def own_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A user's data directory with a one-problem math500.jsonl, chosen through the variable."""
    (tmp_path / "math500.jsonl").write_text(json.dumps({"problem": "What is 1 + 1?", "answer": "2"}) + "\n")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    return tmp_path


def test_every_tool_reads_the_carried_copy_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert len(reasoning_prompts(QuantizeRequest(model="m", scheme="w8a8-int8", out=tmp_path))) == 500
    assert len(get_benchmark("math500").load(None)) == 500  # the carried copy, not the hub
    assert benchmark_path("math500") == CARRIED_DIR / "math500.jsonl"
    assert benchmark_path("toy-arith").name == "toy-arith.jsonl"


def test_every_tool_reads_the_users_directory(own_data_dir: Path, tmp_path: Path) -> None:
    from evalclient.cli import build_parser, resolve_config

    assert reasoning_prompts(QuantizeRequest(model="m", scheme="w8a8-int8", out=tmp_path)) == [
        "What is 1 + 1?"
    ]
    assert benchmark_path("math500") == own_data_dir / "math500.jsonl"
    args = build_parser().parse_args(["--endpoint", "http://e/v1", "--model", "m", "--benchmark", "math500"])
    config, benchmarks = resolve_config(args)
    assert config.data_dir == str(own_data_dir)  # recorded in run.json
    assert [p.gold for p in benchmarks[0].load(Path(config.data_dir))] == ["2"]
