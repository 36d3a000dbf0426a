"""An instant OpenAI-compatible chat endpoint, for measuring the client's own overhead and for tests.

A bare asyncio HTTP/1.1 server (keep-alive, JSON or SSE) that answers at once from a table
``{user message: response text}`` (``@SEED@`` in a text becomes the request's seed; default: a short
think block and ``\\boxed{42}``), with optional
fault injection: the first ``fail_count`` requests get ``fail_status``, and any message containing
``FAIL-ALWAYS`` gets a 500 every time. ``python -m evalclient.stub --port 8099 --answers table.json``.

A ``responder`` (a function of the user message returning a ``StubReply``: text and a delay) replaces the
table; judge mode (``--judge rules``) answers ``evalclient diagnose``'s critique prompts as the rules judge
would (``evalclient.diagnose.stub_judge``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_RESPONSE = "<think>\nLet me think. 6 times 7 is 42.\n</think>\n\nThe answer is \\boxed{42}."
THINK_END = "</think>"
SEED_MARK = "@SEED@"  # replaced by the request's seed, so samples of one problem differ


@dataclass(frozen=True)
class StubReply:
    text: str
    delay_s: float = 0.0  # seconds before the answer is sent


Responder = Callable[[str], StubReply]  # user message -> reply


class StubState:
    def __init__(
        self,
        answers: dict[str, str],
        fail_count: int,
        fail_status: int,
        reasoning_field: bool,
        delay_s: float = 0.0,
        responder: Responder | None = None,
    ) -> None:
        self.answers = answers
        self.responder = responder
        self.delay_s = delay_s
        self.fail_count = fail_count
        self.fail_status = fail_status
        self.reasoning_field = reasoning_field
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0


def _completion(state: StubState, body: dict[str, Any], reply: str | None) -> tuple[str, str | None, int]:
    prompt = body["messages"][-1]["content"]
    text = reply if reply is not None else state.answers.get(prompt, DEFAULT_RESPONSE)
    text = text.replace(SEED_MARK, str(body.get("seed")))
    if not state.reasoning_field or THINK_END not in text:
        return text, None, 0
    reasoning, _, answer = text.partition(THINK_END)
    reasoning = reasoning.replace("<think>", "").strip()
    return answer.strip(), reasoning, max(1, len(reasoning) // 4)


def _response(
    state: StubState, body: dict[str, Any], reply: str | None = None
) -> tuple[int, str, bytes, dict[str, str]]:
    prompt = str(body.get("messages", [{}])[-1].get("content", ""))
    if state.requests <= state.fail_count or "FAIL-ALWAYS" in prompt:
        status = state.fail_status if state.requests <= state.fail_count else 500
        error = {
            "error": {"message": "injected failure", "type": "server_error", "param": None, "code": status}
        }
        return (
            status,
            "application/json",
            json.dumps(error).encode(),
            {"Retry-After": "0"} if status == 429 else {},
        )
    content, reasoning, reasoning_tokens = _completion(state, body, reply)
    total = max(1, (len(content) + len(reasoning or "")) // 4)
    usage = {
        "prompt_tokens": max(1, len(prompt) // 4),
        "completion_tokens": total + reasoning_tokens,
        "total_tokens": total + reasoning_tokens + len(prompt) // 4,
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
    }
    model = body.get("model", "stub")
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if reasoning is not None:
            message["reasoning_content"] = reasoning
        data = {
            "id": f"stub-{state.requests}",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        }
        return 200, "application/json", json.dumps(data).encode(), {}
    chunks: list[dict[str, Any]] = []
    if reasoning is not None:
        chunks.append({"index": 0, "delta": {"role": "assistant", "reasoning_content": reasoning}})
    chunks.append({"index": 0, "delta": {"content": content}})
    chunks.append({"index": 0, "delta": {}, "finish_reason": "stop"})
    events = [
        {"id": "stub", "object": "chat.completion.chunk", "model": model, "choices": [c]} for c in chunks
    ]
    events.append(
        {"id": "stub", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage}
    )
    payload = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
    return 200, "text/event-stream", payload.encode(), {}


async def _handle(state: StubState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
            state.in_flight += 1
            state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
            if method == "GET" and path.endswith("/models"):
                data = {"object": "list", "data": [{"id": name, "object": "model"} for name in ("stub",)]}
                status, kind, payload, extra = 200, "application/json", json.dumps(data).encode(), {}
            elif method == "POST" and path.endswith("/chat/completions"):
                state.requests += 1  # counted on arrival: a request in flight when its client dies counts
                if state.delay_s:
                    await asyncio.sleep(state.delay_s)
                body = json.loads(raw)
                reply = None
                if state.responder is not None:
                    answer = state.responder(str(body["messages"][-1]["content"]))
                    await asyncio.sleep(answer.delay_s)
                    reply = answer.text
                status, kind, payload, extra = _response(state, body, reply)
            else:
                status, kind, payload, extra = (
                    404,
                    "application/json",
                    b'{"error": {"message": "not found"}}',
                    {},
                )
            state.in_flight -= 1
            extra_headers = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
            head_out = f"HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {len(payload)}\r\n"
            writer.write(f"{head_out}{extra_headers}\r\n".encode() + payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def serve(state: StubState, host: str, port: int, ready: threading.Event | None = None) -> None:
    server = await asyncio.start_server(lambda r, w: _handle(state, r, w), host, port, backlog=1024)
    if ready is not None:
        ready.set()
    async with server:
        await server.serve_forever()


class StubThread:
    """The stub in a daemon thread of this process (tests: speed does not matter there)."""

    def __init__(
        self,
        port: int,
        answers: dict[str, str] | None = None,
        *,
        fail_count: int = 0,
        fail_status: int = 503,
        reasoning_field: bool = True,
        delay_s: float = 0.0,
        responder: Responder | None = None,
    ) -> None:
        self.state = StubState(answers or {}, fail_count, fail_status, reasoning_field, delay_s, responder)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        ready = threading.Event()
        self._thread = threading.Thread(
            target=asyncio.run, args=(serve(self.state, "127.0.0.1", port, ready),), daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the stub endpoint did not start")


class StubProcess:
    """The stub in its own process (benchmarks: it must not share the client's interpreter)."""

    def __init__(self, port: int, answers_file: Path | None = None) -> None:
        command = [sys.executable, "-m", "evalclient.stub", "--port", str(port)]
        if answers_file is not None:
            command += ["--answers", str(answers_file)]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._process = subprocess.Popen(command)
        self._port = port

    def __enter__(self) -> StubProcess:
        import socket

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self._port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self._process.kill()
        raise RuntimeError("the stub endpoint did not start")

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.wait(10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="evalclient.stub", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--answers", type=Path, help="JSON object {user message: response text}")
    parser.add_argument("--no-reasoning-field", action="store_true", help="send think delimiters in content")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--judge", choices=("rules",), help="answer evalclient diagnose's critique prompts as this judge"
    )
    args = parser.parse_args(argv)
    answers = json.loads(args.answers.read_text()) if args.answers else {}
    responder = None
    if args.judge == "rules":
        from evalclient.diagnose.stub_judge import rules_reply

        responder = rules_reply
    state = StubState(answers, 0, 503, not args.no_reasoning_field, args.delay, responder)
    asyncio.run(serve(state, "127.0.0.1", args.port))


if __name__ == "__main__":
    main()
