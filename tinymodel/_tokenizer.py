from __future__ import annotations

import string

from tokenizers import AddedToken, Tokenizer, decoders
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Split
from transformers import PreTrainedTokenizerFast

# DeepSeek-R1-distill special tokens, spelled as the real tokenizer spells them, so templates and
# stop handling written for R1 distills apply unchanged.
BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
PAD = "<｜pad｜>"
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

_CHARS = string.printable  # 100 characters: digits, letters, punctuation, whitespace


def build_char_tokenizer(vocab_size: int = 128, model_max_length: int = 2048) -> PreTrainedTokenizerFast:
    """A character-level tokenizer: one token per printable ASCII character, plus R1's specials.

    Characters outside printable ASCII become the unknown token. Ids up to ``vocab_size`` that
    nothing else uses are reserved special tokens, so every id the model can emit decodes.
    """
    vocab: dict[str, int] = {}
    for token in [*SPECIAL_TOKENS, *THINK_TOKENS, *_CHARS]:
        vocab.setdefault(token, len(vocab))
    if len(vocab) > vocab_size:
        raise ValueError(f"vocab_size {vocab_size} < the {len(vocab)} tokens the tokenizer needs")
    reserved = [f"<｜reserved_{i}｜>" for i in range(vocab_size - len(vocab))]
    for token in reserved:
        vocab[token] = len(vocab)
    backend = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK))
    # An empty pattern splits between every character; "isolated" keeps each one as a token.
    backend.pre_tokenizer = Split(pattern="", behavior="isolated")
    backend.decoder = decoders.Fuse()
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
