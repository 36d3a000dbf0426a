"""Which exceptions a client sees as which status: the complete list of what is still a 5xx."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("vllm", reason="the serving environment's tests (collected in the quantize one too)")

from vllm.exceptions import VLLMValidationError
from vllm.v1.engine.exceptions import EngineDeadError

from server.errors import (
    APIError,
    InvalidRequestError,
    ModelNotFoundError,
    engine_errors_mapped,
    to_api_error,
)
from server.json_body import parse_json_body


@pytest.mark.parametrize(
    ("exc", "status", "param"),
    [
        (InvalidRequestError("bad", param="seed"), 400, "seed"),
        (ModelNotFoundError("no such model", param="model"), 404, "model"),
        (VLLMValidationError("logit_bias id 99999", parameter="logit_bias"), 400, "logit_bias"),
        (VLLMValidationError("bad value"), 400, None),
        # The only 5xx: a dead engine, and exceptions nobody mapped (bugs, ours or vLLM's).
        (EngineDeadError(), 503, None),
        (RuntimeError("boom"), 500, None),
        (ValueError("from deep inside"), 500, None),  # never a 400: vLLM's mistake, not ours to copy
        (KeyError("x"), 500, None),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), 500, None),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_status_of_each_exception(exc: Exception, status: int, param: str | None) -> None:
    error = to_api_error(exc)
    assert int(error.status) == status
    assert error.param == param
    body = error.to_dict()["error"]
    assert body["code"] == status
    if status == 500:
        assert "boom" not in body["message"]  # internals stay in the log


def test_engine_errors_are_mapped_and_others_pass_through() -> None:
    with pytest.raises(InvalidRequestError), engine_errors_mapped():
        raise VLLMValidationError("refused")
    with pytest.raises(RuntimeError), engine_errors_mapped():
        raise RuntimeError("not the client's fault")
    assert not isinstance(to_api_error(RuntimeError()), InvalidRequestError)
    assert type(to_api_error(RuntimeError())) is APIError


def test_lone_surrogates_become_the_replacement_character() -> None:
    raw = json.dumps({"a\ud800": ["\udc00", {"k": "x\udfffy", "pair": "\U0001f600"}], "n": 1})
    assert "\\ud800" in raw
    expected = {"a\ufffd": ["\ufffd", {"k": "x\ufffdy", "pair": "\U0001f600"}], "n": 1}
    assert parse_json_body(raw.encode()) == expected
    assert parse_json_body(b'"\\ud83d\\ude00"') == "\U0001f600"  # a pair is one character, kept


def test_deep_nesting_is_handled_iteratively() -> None:
    deep = "[" * 900 + '"\\ud800"' + "]" * 900
    value = parse_json_body(deep.encode())
    for _ in range(900):
        value = value[0]
    assert value == "\ufffd"


@pytest.mark.parametrize("raw", [b"NaN", b'{"t": Infinity}', b'{"t": -Infinity}'])
def test_non_standard_constants_are_refused(raw: bytes) -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_json_body(raw)
