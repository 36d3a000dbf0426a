from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from launcher import ServerProcess
from reasoning_formats import last_boxed
from tests.conftest import API_KEY
from tinymodel import REASONER_DIR, build_char_tokenizer
from tinymodel._builder import TinyModelSpec
from tinymodel.reasoner.benchmark import DEFAULT_PATH, benchmark_jsonl, benchmark_problems, read_benchmark
from tinymodel.reasoner.problems import (
    STEPS_BY_DIFFICULTY,
    Problem,
    Step,
    random_problem,
    training_problem,
)
from tinymodel.reasoner.train import IGNORE_INDEX, TrainConfig, save_model, train, training_sample

WEIGHTS = Path(__file__).resolve().parents[2] / "tinymodel" / "weights"
LINE = re.compile(r"^(\d+)([+\-*])(\d+): (.+) =(\d+)$")
COLUMN = re.compile(r"^(\d)([+\-*])(\d)(?:([+\-])(\d))?=(\d)(?:([cb])(\d))?$")


def _check_line(line: str) -> tuple[int, str, int, int]:
    """Recompute one trace line from its columns and return (a, op, b, result)."""
    a, op, b, columns, result = LINE.match(line).groups()  # type: ignore[union-attr]
    digits, carry = [], 0
    for column in columns.split(" "):
        da, cop, db, _, extra, digit, _, carry_out = COLUMN.match(column).groups()  # type: ignore[union-attr]
        assert cop == op
        assert int(extra or 0) == carry, f"{line}: carry-in not carried from the previous column"
        if op == "+":
            value = int(da) + int(db) + carry
            assert (int(digit), int(carry_out or 0)) == (value % 10, value // 10), line
        elif op == "-":
            value = int(da) - int(db) - carry
            assert (int(digit), int(carry_out or 0)) == (value % 10, int(value < 0)), line
        else:
            value = int(da) * int(db) + carry
            assert (int(digit), int(carry_out or 0)) == (value % 10, value // 10), line
        carry = int(carry_out or 0)
        digits.append(digit)
    assembled = int("".join(reversed(digits))) + (carry * 10 ** len(digits) if op != "-" else 0)
    assert op != "-" or carry == 0, f"{line}: subtraction went negative"
    expected = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
    assert int(result) == expected == assembled, line
    return int(a), op, int(b), int(result)


def _check_problem(problem: Problem) -> None:
    trace, closing = problem.completion.split("</think>\n\n")
    lines = trace.splitlines()
    assert len(lines) == len(problem.steps)
    value = problem.start
    for line, step in zip(lines, problem.steps, strict=True):
        a, op, b, result = _check_line(line)
        assert (a, op, b) == (value, step.op, step.operand)
        assert str(step.operand) in problem.text
        value = result
    assert closing == f"\\boxed{{{value}}}" and value == problem.answer
    assert last_boxed(problem.completion) == str(problem.answer)


def test_generator_is_deterministic_per_seed() -> None:
    def draw(seed: int) -> list[Problem]:
        rng = random.Random(seed)
        return [training_problem(rng) for _ in range(50)]

    assert draw(1) == draw(1) != draw(2)


def test_every_trace_is_arithmetically_correct_and_boxes_the_answer() -> None:
    rng = random.Random(0)
    problems = [training_problem(rng) for _ in range(2000)]
    problems += [problem for _, problem in benchmark_problems()]
    for problem in problems:
        _check_problem(problem)
    assert {step.op for problem in problems for step in problem.steps} == {"+", "-", "*"}


def test_trace_format_example() -> None:
    problem = Problem(47, (Step("+", 38),), "Ann", "coins")
    assert problem.trace == "47+38: 7+8=5c1 4+3+1=8 =85\n"
    assert problem.text == "Ann has 47 coins, gets 38 more. How many now?"


def test_benchmark_file_matches_its_generator() -> None:
    assert DEFAULT_PATH.read_text() == benchmark_jsonl()
    items = read_benchmark()
    assert len(items) >= 200
    assert len({item.id for item in items}) == len(items)
    assert {item.difficulty for item in items} == set(STEPS_BY_DIFFICULTY)
    for item, problem in benchmark_problems():
        assert (item.problem, item.answer) == (problem.text, str(problem.answer))
    training = {
        training_problem(rng).text for rng in [random.Random(TrainConfig.data_seed)] for _ in range(5000)
    }
    assert not training & {item.problem for item in items}, "benchmark problems leak into training"


def test_training_sample_learns_only_the_assistant_part() -> None:
    tokenizer = build_char_tokenizer()
    problem = random_problem(random.Random(3), 2)
    ids, labels = training_sample(tokenizer, problem, None)
    prompt_length = labels.index(next(label for label in labels if label != IGNORE_INDEX))
    assert tokenizer.decode(ids[:prompt_length]).endswith("<｜Assistant｜><think>\n")
    assert tokenizer.decode(ids[prompt_length:]) == problem.completion + "<｜end▁of▁sentence｜>"
    cut_ids, cut_labels = training_sample(tokenizer, problem, 5)
    learned = [label for label in cut_labels if label != IGNORE_INDEX]
    assert tokenizer.decode(learned) == f"\\boxed{{{problem.answer}}}<｜end▁of▁sentence｜>"
    assert tokenizer.decode(cut_ids).count("</think>\n\n") == 1


def test_cpu_training_is_bit_deterministic_and_saves_atomically(tmp_path: Path) -> None:
    small = TinyModelSpec(hidden_size=128, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4,
                          num_key_value_heads=4, max_position_embeddings=1024)  # fmt: skip
    config = replace(TrainConfig(), spec=small, steps=2, batch_size=4, bucket=2)
    first, tokenizer = train(config)
    second, _ = train(config)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    out = save_model(first, tokenizer, config, tmp_path / "model", {"note": "test"})
    assert [p.name for p in tmp_path.iterdir()] == ["model"], "no staging directory left behind"
    assert json.loads((out / "tiny_reasoner.json").read_text())["note"] == "test"
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.bfloat16)
    for (name, a), (_, b) in zip(first.state_dict().items(), reloaded.state_dict().items(), strict=True):
        assert torch.equal(a.to(torch.bfloat16), b), name


@pytest.mark.parametrize(
    "model_dir", sorted(p for p in WEIGHTS.iterdir() if p.is_dir()), ids=lambda p: p.name
)
def test_committed_weights_load_and_fit_the_kernels(model_dir: Path) -> None:
    config = AutoConfig.from_pretrained(model_dir)
    assert config.architectures == ["Qwen2ForCausalLM"]
    assert config.hidden_size // config.num_attention_heads >= 32
    assert config.hidden_size % 128 == 0 and config.intermediate_size % 128 == 0
    assert config.vocab_size == 288
    with safe_open(str(model_dir / "model.safetensors"), "pt") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()} == {torch.bfloat16}  # noqa: SIM118
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    text = "Ann has 47 coins, gets 38 more. How many now?<think>\n47+38: 7+8=5c1</think>\n\n\\boxed{85}"
    assert tokenizer.encode(text, add_special_tokens=False) == build_char_tokenizer().encode(
        text, add_special_tokens=False
    )
    record = json.loads((model_dir / "tiny_reasoner.json").read_text())
    assert record["train_config"]["spec"]["hidden_size"] == config.hidden_size


@pytest.mark.slow
def test_served_by_vllm_it_reasons_and_needs_its_thinking(
    reasoner_server: ServerProcess, tmp_path: Path
) -> None:
    """The quality script, on a few benchmark problems, against the session's server on the reasoner."""
    import os
    import subprocess
    import sys

    subset = tmp_path / "subset.jsonl"
    subset.write_text("".join(line + "\n" for line in DEFAULT_PATH.read_text().splitlines()[::12]))
    results = tmp_path / "results.json"
    repo = Path(__file__).resolve().parents[2]
    script = repo / "benchmarks" / "tiny_reasoner_quality.py"
    subprocess.run(
        [sys.executable, str(script), "--model", str(REASONER_DIR), "--benchmark", str(subset),
         "--endpoint", reasoner_server.base_url, "--api-key", API_KEY, "--budgets", "0", "640",
         "--json", str(results)],
        check=True, timeout=400, env={**os.environ, "PYTHONPATH": str(repo)},
    )  # fmt: skip
    budget_zero, unlimited = json.loads(results.read_text())["results"]
    assert unlimited["accuracy"] >= 0.8
    assert budget_zero["accuracy"] <= unlimited["accuracy"] / 2
