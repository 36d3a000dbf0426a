"""Training examples for ``quantize recover``: worked solutions from a JSONL file, or the source model's own
reasoning traces through ``serve``, kept only where their final answer is right.

Every example becomes a trace record (prompt, reasoning, answer), rendered through the chat template the
way calibration renders traces; only what the model writes (reasoning, end of thinking, answer) is learned.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel
from rich.console import Console

from quantize.calibration import (
    CalibrationError,
    TraceRecord,
    read_numbered_jsonl,
    render_trace_parts,
)
from quantize.errors import QuantizeError
from reasoning_formats import ThinkFormat, last_boxed

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

PROBLEM_FIELDS = ("problem", "prompt", "question")
IGNORE_INDEX = -100


class RecoverDataError(QuantizeError):
    pass


class ReasoningSource(BaseModel):
    """Where ``--data reasoning`` gets its traces: serve started on the source model, or a running server."""

    model: Path
    prompts: Path
    max_tokens: int
    server: str | None = None
    served_model: str | None = None
    api_key: str | None = None


class TrainingData(BaseModel):
    source: str
    examples: list[TraceRecord]
    excluded: int

    @property
    def sha256(self) -> str:
        """Over the examples themselves (prompt, reasoning, answer), in training order."""
        digest = hashlib.sha256()
        for example in self.examples:
            digest.update(hashlib.sha256(example.model_dump_json().encode()).digest())
        return digest.hexdigest()


def problem_key(text: str) -> str:
    """Problem text compared for disjointness: whitespace runs count as one space."""
    return " ".join(text.split())


def _problem(record: dict[str, Any], where: str) -> str:
    for field in PROBLEM_FIELDS:
        if isinstance(record.get(field), str) and record[field].strip():
            return str(record[field])
    raise RecoverDataError(f"{where}: no problem text (one of {', '.join(PROBLEM_FIELDS)})")


def example_from_record(record: dict[str, Any], where: str, think_end: str) -> TraceRecord:
    """A trace record as is, or ``problem`` + worked ``solution`` (+ ``answer``): the solution up to
    ``think_end`` (``</think>``) is the reasoning and the rest the answer; one without it is all reasoning,
    answered with ``\\boxed{answer}`` (the ``answer`` field, else the solution's last ``\\boxed{}``)."""
    prompt = _problem(record, where)
    if isinstance(record.get("reasoning_content"), str) and isinstance(record.get("content"), str):
        return TraceRecord(
            prompt=prompt, reasoning_content=record["reasoning_content"], content=record["content"]
        )
    solution = record.get("solution")
    if not isinstance(solution, str) or not solution.strip():
        raise RecoverDataError(
            f"{where}: no worked solution (a 'solution' field, or reasoning_content+content)"
        )
    if think_end in solution:
        reasoning, _, answer = solution.partition(think_end)
        return TraceRecord(prompt=prompt, reasoning_content=reasoning, content=answer.lstrip())
    answer = record.get("answer")
    answer = str(answer) if answer is not None else last_boxed(solution)
    if not answer:
        raise RecoverDataError(
            f"{where}: a solution without {think_end} needs an 'answer' or a \\boxed{{}} answer"
        )
    reasoning = solution if solution.endswith("\n") else solution + "\n"
    return TraceRecord(prompt=prompt, reasoning_content=reasoning, content="\\boxed{" + answer + "}")


def read_examples(path: Path, think_end: str) -> list[TraceRecord]:
    try:
        numbered = read_numbered_jsonl(path, what="training data")
    except CalibrationError as exc:
        raise RecoverDataError(str(exc)) from exc
    return [example_from_record(record, f"{path}:{number}", think_end) for number, record in numbered]


def read_problem_texts(path: Path) -> set[str]:
    """Problem texts of a benchmark JSONL (``--exclude``), keyed for comparison."""
    try:
        numbered = read_numbered_jsonl(path, what="--exclude")
    except CalibrationError as exc:
        raise RecoverDataError(str(exc)) from exc
    return {problem_key(_problem(record, f"{path}:{number}")) for number, record in numbered}


def answer_is_right(trace: TraceRecord, answer: str) -> bool:
    """The final answer (the last ``\\boxed{}`` of the answer part) equals the reference, spaces aside."""
    given = last_boxed(trace.content)
    return given is not None and "".join(given.split()) == "".join(answer.split())


def reference_answers(path: Path) -> list[tuple[str, str]]:
    try:
        numbered = read_numbered_jsonl(path, what="--prompts")
    except CalibrationError as exc:
        raise RecoverDataError(str(exc)) from exc
    pairs = []
    for number, record in numbered:
        where = f"{path}:{number}"
        answer = record.get("answer")
        if answer is None:
            raise RecoverDataError(
                f"{where}: --data reasoning keeps traces whose answer is right: needs 'answer'"
            )
        pairs.append((_problem(record, where), str(answer)))
    return pairs


def reasoning_examples(
    source: ReasoningSource,
    wanted: int,
    exclude: set[str],
    staging: Path,
    console: Console,
    think_format: ThinkFormat,
) -> tuple[list[TraceRecord], int, int]:
    """Traces of the source model for up to ``2 * wanted`` prompts, the right ones first ``wanted``; with
    the number of prompts excluded and of traces asked for. Each trace is kept in ``staging`` as it comes."""
    from quantize.traces import TracePrompt, generate_traces, request_traces

    pairs = reference_answers(source.prompts)
    kept_pairs = [(p, a) for p, a in pairs if problem_key(p) not in exclude]
    excluded = len(pairs) - len(kept_pairs)
    asked = kept_pairs[: 2 * wanted]  # room for wrong answers
    answers = dict(asked)
    prompts = [prompt for prompt, _ in asked]
    # Problem statements are short: a trace gets --max-tokens, or at most the model's context.
    candidates = [TracePrompt(prompt, 0) for prompt in prompts]
    traces_path = staging / "traces.jsonl"
    try:
        if source.server:
            console.print(f"asking {source.server} for {len(prompts)} reasoning traces")
            traces = request_traces(
                source.server.rstrip("/"), candidates, len(prompts), traces_path, source.max_tokens,
                model=source.served_model or "default", api_key=source.api_key,
            )  # fmt: skip
        else:
            console.print(f"generating {len(prompts)} reasoning traces with serve on {source.model}")
            traces = generate_traces(
                source.model,
                candidates,
                len(prompts),
                traces_path,
                source.max_tokens,
                staging / "serve.log",
                think_format,
            )
    except httpx.HTTPError as exc:
        raise RecoverDataError(f"trace server {source.server}: {exc}") from exc
    except CalibrationError as exc:
        raise RecoverDataError(str(exc)) from exc
    order = {prompt: index for index, prompt in enumerate(prompts)}
    right = sorted(
        (t for t in traces if answer_is_right(t, answers[t.prompt])), key=lambda t: order[t.prompt]
    )
    console.print(f"{len(right)} of {len(traces)} traces answer right")
    if not right:
        raise RecoverDataError(
            f"none of the source model's {len(traces)} traces answers right: nothing to learn"
        )
    return right[:wanted], excluded, len(prompts)


def select_examples(
    examples: Sequence[TraceRecord], wanted: int, exclude: set[str]
) -> tuple[list[TraceRecord], int]:
    """The first ``wanted`` examples whose problem is not excluded, and how many were excluded."""
    kept = [example for example in examples if problem_key(example.prompt) not in exclude]
    return kept[:wanted], len(examples) - len(kept)


def tokenize_examples(
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[TraceRecord],
    eos_token: str | None,
    max_seq_len: int,
    think_format: ThinkFormat,
) -> list[tuple[list[int], list[int]]]:
    """Token ids and labels per example: the prompt is context, the model's own part is learned."""
    samples = []
    for example in examples:
        head, tail = render_trace_parts(tokenizer, example, eos_token, think_format)
        prompt = tokenizer.encode(head, add_special_tokens=False)
        written = tokenizer.encode(tail, add_special_tokens=False)
        ids = (prompt + written)[:max_seq_len]
        labels = ([IGNORE_INDEX] * len(prompt) + written)[:max_seq_len]
        samples.append((ids, labels))
    return samples


def batch_order(num_examples: int, batch_size: int, steps: int, seed: int) -> list[list[int]]:
    """Example indices per step: seeded shuffles of the whole set, one after another (epochs)."""
    rng = random.Random(seed)
    pending: list[int] = []
    batches = []
    for _ in range(steps):
        batch = []
        while len(batch) < min(batch_size, num_examples):
            if not pending:
                pending = list(range(num_examples))
                rng.shuffle(pending)
            batch.append(pending.pop())
        batches.append(batch)
    return batches


def write_examples(path: Path, examples: Sequence[TraceRecord]) -> None:
    with path.open("w") as sink:
        for example in examples:
            sink.write(json.dumps(example.model_dump()) + "\n")
