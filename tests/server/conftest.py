from __future__ import annotations

import re

import httpx
import openai
import pytest

from launcher import ServerProcess
from tests.conftest import API_KEY

# A question the tiny reasoner was trained on the like of, and a schema for its answer.
REASONER_QUESTION = "Ann has 47 coins, gets 38 more. How many now?"
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer", "minimum": 0, "maximum": 9999}},
    "required": ["answer"],
    "additionalProperties": False,
}


@pytest.fixture(scope="session")
def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)


@pytest.fixture(scope="session")
def async_client(server: ServerProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)


@pytest.fixture(scope="session")
def reasoner(reasoner_server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=reasoner_server.base_url, api_key=API_KEY, max_retries=0)


def metric(server: ServerProcess, name: str) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    values = [float(v) for v in re.findall(rf"^{re.escape(name)}\{{[^}}]*\}} (\S+)$", text, re.M)]
    assert values, f"{name} not exported"
    return sum(values)
