from __future__ import annotations

from collections.abc import Iterable

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE
from transformers import PreTrainedTokenizerFast

# DeepSeek-R1-distill special tokens, spelled as the real tokenizer spells them, so templates and
# stop handling written for R1 distills apply unchanged.
BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
PAD = "<｜pad｜>"
# Never produced by a byte-level tokenizer, but named: Qwen2Tokenizer otherwise adds its own
# "<|endoftext|>" as the unknown token, at an id past the model's vocabulary.
UNK = "<｜unk｜>"
THINK_START = "<think>"
THINK_END = "</think>"
SPECIAL_TOKENS = [PAD, UNK, BOS, EOS, USER, ASSISTANT]
# As in R1 distills, the think delimiters are single added tokens that are *not* special: they
# survive skip_special_tokens, so servers and clients see them in the decoded text.
THINK_TOKENS = [THINK_START, THINK_END]

# The R1-distill template, reduced to what the tiny model needs: system text first, earlier
# assistant turns stripped of their reasoning, and a generation prompt that opens the think block.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{{ message['content'] }}"
    "{%- elif message['role'] == 'user' %}" + USER + "{{ message['content'] }}"
    "{%- elif message['role'] == 'assistant' %}"
    "{%- set content = message['content'] %}"
    "{%- if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    + ASSISTANT
    + "{{ content }}"
    + EOS
    + "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}" + ASSISTANT + "<think>\n{% endif %}"
)

# The pre-tokenizer of Qwen2's tokenizer. transformers 5 loads every qwen2 model's tokenizer as
# Qwen2Tokenizer, which imposes this pre-tokenizer and a byte-level decoder whatever tokenizer.json
# says; building ours the same way makes it tokenize identically however it is loaded.
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
    r"""\s*[\r\n]+|\s+(?!\S)|\s+"""
)


def build_char_tokenizer(
    vocab_size: int = 288, model_max_length: int = 2048, *, fill: Iterable[str] = ()
) -> PreTrainedTokenizerFast:
    """A byte-level tokenizer with no merges: one token per byte (so per ASCII character), plus R1's
    special tokens. It is Qwen2's byte-level BPE with the merges left out.

    Ids up to ``vocab_size`` that nothing else uses are ordinary tokens from ``fill`` (byte-level
    spelled; never produced from text, since there are no merges, but decoded as text), then
    reserved special tokens, so every id the model can emit decodes.
    """
    vocab: dict[str, int] = {}
    for token in [*SPECIAL_TOKENS, *THINK_TOKENS, *sorted(pre_tokenizers.ByteLevel.alphabet())]:
        vocab.setdefault(token, len(vocab))
    for token in fill:
        if len(vocab) >= vocab_size:
            break
        vocab.setdefault(token, len(vocab))
    if len(vocab) > vocab_size:
        raise ValueError(f"vocab_size {vocab_size} < the {len(vocab)} tokens the tokenizer needs")
    reserved = [f"<｜reserved_{i}｜>" for i in range(vocab_size - len(vocab))]
    for token in reserved:
        vocab[token] = len(vocab)
    backend = Tokenizer(BPE(vocab=vocab, merges=[], fuse_unk=False, byte_fallback=False))
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([*SPECIAL_TOKENS, *reserved])
    backend.add_tokens([AddedToken(token, special=False, normalized=False) for token in THINK_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        chat_template=CHAT_TEMPLATE,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
