"""The project's own tiny models: no weights can be downloaded, so tests and the demo build theirs.

``build_tiny_model`` writes a random-weight Qwen2-architecture model with a character-level
(byte-level, no merges) tokenizer and a DeepSeek-R1-distill-style chat template, as an HF
directory that vLLM and llm-compressor both load.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tinymodel._builder import TinyModelSpec, build_tiny_model
    from tinymodel._tokenizer import CHAT_TEMPLATE, SPECIAL_TOKENS, THINK_TOKENS, build_char_tokenizer

# The trained tiny reasoner (issue #3): the model to use wherever answer quality matters.
REASONER_DIR = Path(__file__).parent / "weights" / "tiny-reasoner"

# Imported on first use: the builder pulls in torch and transformers (12 s of CPU on a 2-core host), which
# a process that only needs REASONER_DIR (the demo, its quantize step) should not pay.
_LAZY = {
    "TinyModelSpec": "tinymodel._builder",
    "build_tiny_model": "tinymodel._builder",
    "CHAT_TEMPLATE": "tinymodel._tokenizer",
    "SPECIAL_TOKENS": "tinymodel._tokenizer",
    "THINK_TOKENS": "tinymodel._tokenizer",
    "build_char_tokenizer": "tinymodel._tokenizer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tinymodel' has no attribute {name!r}")


__all__ = [
    "CHAT_TEMPLATE",
    "REASONER_DIR",
    "SPECIAL_TOKENS",
    "THINK_TOKENS",
    "TinyModelSpec",
    "build_char_tokenizer",
    "build_tiny_model",
]
