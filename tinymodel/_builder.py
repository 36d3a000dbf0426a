from __future__ import annotations

import json
import os
import shutil
import string
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from tinymodel._tokenizer import build_char_tokenizer


@dataclass(frozen=True)
class TinyModelSpec:
    """Shape of a tiny Qwen2 model.

    head_dim = hidden_size / num_attention_heads must be >= 32 (vLLM's CPU attention), and the
    linear layers' input sizes are multiples of 128 so W4A16 group-128 and W8A8 kernels apply.
    """

    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    vocab_size: int = 288
    max_position_embeddings: int = 2048
    seed: int = 0

    def __post_init__(self) -> None:
        head_dim, remainder = divmod(self.hidden_size, self.num_attention_heads)
        if remainder or head_dim < 32:
            raise ValueError(
                f"head_dim must be a whole number >= 32, got {self.hidden_size}/{self.num_attention_heads}"
            )
        if self.hidden_size % 128 or self.intermediate_size % 128:
            raise ValueError("hidden_size and intermediate_size must be multiples of 128")


def new_qwen2(spec: TinyModelSpec, tokenizer: PreTrainedTokenizerBase) -> Qwen2ForCausalLM:
    """A freshly initialised (seeded) Qwen2 model of ``spec``'s shape for ``tokenizer``."""
    config = Qwen2Config(
        vocab_size=spec.vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(spec.seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model


def build_tiny_model(
    out_dir: str | os.PathLike[str], spec: TinyModelSpec | None = None, *, force: bool = False
) -> Path:
    """Write a random-weight tiny model to ``out_dir`` and return its path.

    Deterministic for ``spec.seed``. Written into a temporary sibling directory and renamed, so
    an interrupted build never leaves a half model behind. An existing directory built from the
    same spec is reused unless ``force``.
    """
    spec = spec or TinyModelSpec()
    out = Path(out_dir)
    marker = out / "tinymodel.json"
    if out.exists() and not force:
        if marker.exists() and json.loads(marker.read_text()) == asdict(spec):
            return out
        raise FileExistsError(f"{out} exists and was not built from this spec; pass force=True")

    tokenizer = build_char_tokenizer(spec.vocab_size, spec.max_position_embeddings)
    model = new_qwen2(spec, tokenizer)
    with torch.no_grad():
        # Only printable characters get output weights, so the random model's noise is readable
        # text, never special tokens, lone UTF-8 bytes, or an early end of sequence.
        model.lm_head.weight[_unprintable_ids(tokenizer)] = 0
    model = model.to(torch.bfloat16)

    return save_model_atomically(out, model, tokenizer, "tinymodel.json", asdict(spec))


def save_model_atomically(
    out: Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    record_name: str,
    record: dict[str, Any],
) -> Path:
    """Save an HF model directory with a JSON record of how it was made, into a temporary sibling
    renamed at the end: an interrupted save never leaves a half model behind."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / record_name).write_text(json.dumps(record, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _unprintable_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    printable = set(string.printable) - set("\t\r\x0b\x0c")
    return [i for i in range(len(tokenizer)) if tokenizer.decode([i]) not in printable]
