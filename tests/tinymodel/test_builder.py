from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from transformers import AutoConfig, AutoTokenizer

from tinymodel import TinyModelSpec, build_char_tokenizer, build_tiny_model


def test_model_directory_is_complete_and_loads(tiny_model_dir: Path) -> None:
    config = AutoConfig.from_pretrained(tiny_model_dir)
    assert config.architectures == ["Qwen2ForCausalLM"]
    assert config.hidden_size // config.num_attention_heads >= 32
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert len(tokenizer) == config.vocab_size
    assert json.loads((tiny_model_dir / "tinymodel.json").read_text()) == TinyModelSpec().__dict__


def test_chat_template_opens_think_like_r1_distills(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt = tokenizer.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+1?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert prompt == "<｜begin▁of▁sentence｜>Be brief.<｜User｜>1+1?<｜Assistant｜><think>\n"
    # Earlier assistant turns lose their reasoning, as in the R1 template.
    history = tokenizer.apply_chat_template(
        [
            {"role": "user", "content": "1+1?"},
            {"role": "assistant", "content": "one and one</think>2"},
            {"role": "user", "content": "2+2?"},
        ],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert "<｜Assistant｜>2<｜end▁of▁sentence｜><｜User｜>2+2?" in history
    assert "one and one" not in history


def test_tokenizer_is_character_level_and_round_trips() -> None:
    tokenizer = build_char_tokenizer()
    text = "12 + 34 = 46\n<think>carry the 1</think>\\boxed{46} é"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids, skip_special_tokens=True) == text  # think tags are not special
    assert tokenizer.convert_ids_to_tokens(ids[:4]) == ["1", "2", "Ġ", "+"]  # byte-level, no merges
    assert len(tokenizer.encode("</think>", add_special_tokens=False)) == 1


def test_saved_tokenizer_loads_as_built(tiny_model_dir: Path) -> None:
    """transformers 5 loads any qwen2 tokenizer as Qwen2Tokenizer, imposing Qwen2's pre-tokenizer;
    vLLM loads it the same way. The saved tokenizer must tokenize exactly as the one we built."""
    text = "Ann has 47 coins.\n  She gets 38 more!<think>\n47+38</think>\n\n\\boxed{85}"
    loaded = AutoTokenizer.from_pretrained(tiny_model_dir)
    built = build_char_tokenizer()
    assert loaded.encode(text, add_special_tokens=False) == built.encode(text, add_special_tokens=False)
    assert len(loaded.encode(text, add_special_tokens=False)) == len(text) - len("<think></think>") + 2


def test_build_is_deterministic_per_seed(tmp_path: Path) -> None:
    def weights_digest(path: Path) -> str:
        return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()

    first = build_tiny_model(tmp_path / "a", TinyModelSpec(seed=3))
    second = build_tiny_model(tmp_path / "b", TinyModelSpec(seed=3))
    other = build_tiny_model(tmp_path / "c", TinyModelSpec(seed=4))
    assert weights_digest(first) == weights_digest(second) != weights_digest(other)


def test_existing_directory_is_reused_or_refused(tmp_path: Path) -> None:
    path = build_tiny_model(tmp_path / "m")
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(path) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="force"):
        build_tiny_model(path, TinyModelSpec(seed=9))
    build_tiny_model(path, TinyModelSpec(seed=9), force=True)
    assert json.loads((path / "tinymodel.json").read_text())["seed"] == 9
    assert [p.name for p in tmp_path.iterdir()] == ["m"], "no staging directory left behind"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"num_attention_heads": 8}, "head_dim"), ({"intermediate_size": 300}, "multiples of 128")],
)
def test_spec_rejects_shapes_kernels_cannot_run(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TinyModelSpec(**overrides)
