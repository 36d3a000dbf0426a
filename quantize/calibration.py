"""Calibration data: where it comes from and how a record becomes one full calibration text.

The seed paper's code calibrated on ``trace[0]`` (the first character of each reasoning trace) where it
meant the trace; here a trace record is always rendered whole (prompt through the chat template, then the
complete reasoning, the end of thinking and the complete answer), and tests check it.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from quantize.errors import QuantizeError
from reasoning_formats import ThinkFormat


class CalibrationError(QuantizeError, ValueError):
    pass


class TraceRecord(BaseModel):
    """One reasoning trace: a prompt and the model's own reasoning and answer (the server's split)."""

    model_config = ConfigDict(extra="ignore")
    prompt: str
    reasoning_content: str
    content: str


class CalibrationSet(BaseModel):
    """Calibration texts plus a few held out (same style) for ``quantize verify``'s perplexity."""

    source: str
    texts: list[str]
    heldout: list[str]
    heldout_prompts: list[str]

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for text in self.texts:
            digest.update(hashlib.sha256(text.encode()).digest())
        return digest.hexdigest()


class ChatTemplate(Protocol):
    def apply_chat_template(self, conversation: list[dict[str, str]], **kwargs: Any) -> Any: ...


def render_prompt(tokenizer: ChatTemplate, prompt: str) -> str:
    """The chat-formatted prompt up to where the model starts writing (some templates open the think
    block there)."""
    return str(
        tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    )


def render_trace_parts(
    tokenizer: ChatTemplate, trace: TraceRecord, eos_token: str | None, think_format: ThinkFormat
) -> tuple[str, str]:
    """A trace as the prompt the model read (through the opened think block, in its own delimiters) and
    what it wrote: every character of reasoning and answer."""
    head = render_prompt(tokenizer, trace.prompt)
    # Templates of R1 distills and QwQ end the generation prompt by opening the think block; with the
    # others (Qwen3, most custom formats) the model writes the opening itself.
    opened = "" if head.rstrip().endswith(think_format.start) else f"{think_format.start}\n"
    # The server strips the blank line reasoning models write after the end delimiter; put it back.
    answer = trace.content if trace.content[:1].isspace() else f"\n\n{trace.content}"
    return f"{head}{opened}", f"{trace.reasoning_content}{think_format.end}{answer}{eos_token or ''}"


def render_trace(
    tokenizer: ChatTemplate, trace: TraceRecord, eos_token: str | None, think_format: ThinkFormat
) -> str:
    """A whole trace as the model saw and wrote it, in its own think delimiters."""
    return "".join(render_trace_parts(tokenizer, trace, eos_token, think_format))


def read_numbered_jsonl(path: Path, what: str = "calibration") -> list[tuple[int, dict[str, Any]]]:
    """The JSON objects of a JSONL file, each with its line number (blank lines skipped)."""
    if not path.is_file():
        raise CalibrationError(f"{what} file not found: {path}")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CalibrationError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise CalibrationError(f"{path}:{number}: expected a JSON object")
        records.append((number, record))
    if not records:
        raise CalibrationError(f"{path} holds no records")
    return records


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [record for _, record in read_numbered_jsonl(path)]


def read_prompts(path: Path) -> list[str]:
    """Prompts from a JSONL with ``problem`` (math500, toy-arith), ``prompt`` or ``question`` fields."""
    prompts = []
    for record in read_jsonl(path):
        prompt = record.get("problem") or record.get("prompt") or record.get("question")
        if not isinstance(prompt, str):
            raise CalibrationError(f"{path}: a record has no problem/prompt/question text")
        prompts.append(prompt)
    return prompts


def record_to_text(
    record: dict[str, Any],
    tokenizer: ChatTemplate,
    eos_token: str | None,
    think_format: ThinkFormat | None = None,
) -> str:
    """A ``--calib FILE.jsonl`` record: a trace (rendered in ``think_format``), chat ``messages``, or
    plain ``text``."""
    if "reasoning_content" in record:
        if think_format is None:
            raise CalibrationError(
                "reasoning traces need the model's think delimiters and its chat template shows none: "
                "pass --think-format NAME or --think-start/--think-end"
            )
        return render_trace(tokenizer, TraceRecord.model_validate(record), eos_token, think_format)
    if "messages" in record:
        return str(tokenizer.apply_chat_template(record["messages"], tokenize=False))
    if isinstance(text := record.get("text"), str):
        return text
    raise CalibrationError(
        "a calibration record needs 'text', 'messages', or prompt+reasoning_content+content"
    )


def split_heldout(
    texts: Sequence[str], prompts: Sequence[str], num_samples: int, heldout: int, seed: int = 0
) -> tuple[list[str], list[str], list[str]]:
    """Shuffle once, hold ``heldout`` texts (and prompts) apart, keep up to ``num_samples`` of the rest."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    kept = order[heldout:][:num_samples] if len(order) > heldout else order[:num_samples]
    held = order[:heldout] if len(order) > heldout else []
    return [texts[i] for i in kept], [texts[i] for i in held], [prompts[i] for i in held if prompts]


def from_records(
    source: str,
    records: Iterable[dict[str, Any]],
    tokenizer: ChatTemplate,
    eos_token: str | None,
    num_samples: int,
    heldout: int,
    think_format: ThinkFormat | None = None,
) -> CalibrationSet:
    rows = list(records)
    texts = [record_to_text(record, tokenizer, eos_token, think_format) for record in rows]
    prompts = [str(record.get("prompt", "")) for record in rows]
    kept, held, held_prompts = split_heldout(texts, prompts if all(prompts) else [], num_samples, heldout)
    return CalibrationSet(source=source, texts=kept, heldout=held, heldout_prompts=held_prompts)


def from_hub(name: str, tokenizer: ChatTemplate, num_samples: int, heldout: int) -> CalibrationSet:
    """``hub:NAME[:split]``: a hub dataset with a ``text`` column or chat ``messages`` (online only)."""
    from datasets import load_dataset

    dataset_name, _, split = name.partition(":")
    try:
        dataset = load_dataset(dataset_name, split=split or "train")
    except Exception as exc:  # the hub client raises many types; all mean "could not get it"
        raise CalibrationError(
            f"could not load hub dataset {dataset_name!r}: {str(exc).splitlines()[0]}"
        ) from exc
    rows = [dict(row) for row in dataset.select(range(min(len(dataset), num_samples + heldout)))]
    return from_records(f"hub:{name}", rows, tokenizer, None, num_samples, heldout)


CalibKind = Literal["reasoning", "file", "hub"]


def calib_kind(calib: str) -> CalibKind:
    if calib == "reasoning":
        return "reasoning"
    if calib.startswith("hub:"):
        return "hub"
    return "file"
