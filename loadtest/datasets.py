"""Where prompts come from (``--dataset``): ``random:IN:OUT``, a benchmark by name, or a JSONL file.

``random:IN:OUT`` needs no tokenizer on the client: random lower-case words are sized to IN prompt tokens
*as the server counts them* (chat template included), from two probe requests whose ``usage.prompt_tokens``
give tokens per character and the template's overhead. Every prompt is different text, so a prefix cache
cannot serve one request from another. OUT is ``max_tokens``, with ``ignore_eos`` when the server takes it.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmark_data import CARRIED_DIR, chosen_data_dir
from loadtest.errors import LoadtestError

ROOT = Path(__file__).resolve().parents[1]
# Benchmarks by name: NAME.jsonl in the user's data directory, else among those the project carries.
CARRIED_BENCHMARK_DIRS = (ROOT / "evalclient" / "data", CARRIED_DIR)
PROMPT_FIELDS = ("prompt", "problem", "question", "text", "input")


class DatasetError(LoadtestError, ValueError):
    """The dataset argument or file cannot give prompts."""


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    max_tokens: int | None
    exact_length: bool = False  # random:IN:OUT: generate all max_tokens (ignore_eos), not stop at EOS


@dataclass(frozen=True, slots=True)
class RandomSpec:
    input_tokens: int
    output_tokens: int


def parse_random(text: str) -> RandomSpec | None:
    """``random:IN:OUT`` -> RandomSpec; None when ``text`` names another kind of dataset."""
    if not text.startswith("random"):
        return None
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts[1:]):
        raise DatasetError(
            f"--dataset {text!r}: write random:IN:OUT with positive token counts, e.g. random:128:64"
        )
    return RandomSpec(int(parts[1]), int(parts[2]))


def benchmark_path(name: str) -> Path:
    """A JSONL file: ``name`` itself when it is a file, else NAME.jsonl in a benchmark folder."""
    if (path := Path(name)).is_file():
        return path
    chosen = chosen_data_dir()
    folders = [*([chosen] if chosen else []), *CARRIED_BENCHMARK_DIRS]
    for folder in folders:
        if (candidate := folder / f"{name}.jsonl").is_file():
            return candidate
    known = sorted({p.stem for d in folders if d.is_dir() for p in d.glob("*.jsonl")})
    raise DatasetError(
        f"--dataset {name!r}: no such file, not random:IN:OUT, not a benchmark ({', '.join(known) or 'none'})"
    )


def load_prompts(path: Path) -> list[str]:
    """Prompt texts of a JSONL file: each line's first field among PROMPT_FIELDS, or the line if a string."""
    prompts: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not JSON ({exc.msg})") from None
            text = (
                item
                if isinstance(item, str)
                else next(
                    (
                        item[f]
                        for f in PROMPT_FIELDS
                        if isinstance(item, dict) and isinstance(item.get(f), str)
                    ),
                    None,
                )
            )
            if text is None:
                raise DatasetError(f"{path}:{number}: no prompt field (one of {', '.join(PROMPT_FIELDS)})")
            prompts.append(text)
    if not prompts:
        raise DatasetError(f"{path}: no prompts")
    return prompts


def cycle_prompts(texts: list[str], max_tokens: int | None, seed: int) -> Iterator[Prompt]:
    """The file's prompts in a seeded shuffled order, again and again for as long as the run asks."""
    rng = random.Random(seed)
    while True:
        order = texts[:]
        rng.shuffle(order)
        for text in order:
            yield Prompt(text, max_tokens)


def random_words(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    size = 0
    while size < chars:
        word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 8)))
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:chars]


@dataclass(frozen=True, slots=True)
class TokenScale:
    """Prompt tokens the server counts for a text of c characters: overhead + per_char * c."""

    overhead: float
    per_char: float

    def chars_for(self, tokens: int) -> int:
        return max(1, round((tokens - self.overhead) / self.per_char))


async def calibrate(count_prompt_tokens: Callable[[str], Awaitable[int]], seed: int) -> TokenScale:
    """Measure the server's tokens per character of random words, from two probes of different lengths."""
    rng = random.Random(seed ^ 0x5EED)
    short, long = random_words(rng, 40), random_words(rng, 400)
    short_tokens, long_tokens = await count_prompt_tokens(short), await count_prompt_tokens(long)
    per_char = (long_tokens - short_tokens) / (len(long) - len(short))
    if per_char <= 0:
        raise DatasetError("random dataset: the server's prompt_tokens do not grow with the prompt")
    return TokenScale(overhead=short_tokens - per_char * len(short), per_char=per_char)


def random_prompts(spec: RandomSpec, scale: TokenScale, seed: int) -> Iterator[Prompt]:
    rng = random.Random(seed)
    chars = scale.chars_for(spec.input_tokens)
    while True:
        yield Prompt(random_words(rng, chars), spec.output_tokens, exact_length=True)
