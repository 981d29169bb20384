"""A scripted OpenAI-compatible chat server for tests: the real client, no network, no key.

The server answers ``POST /v1/chat/completions`` with the next reply of its script (a text,
or tool calls) and records every request body, so a test can read exactly what the model
was sent (the system prompt, the tool results). With ``"stream": true`` it answers in
server-sent-event chunks the way OpenAI does, one chunk per word of a text.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """One tool call the scripted model makes."""

    name: str
    args: dict[str, Any]


Reply = str | list[ToolCall]
"""A scripted reply: assistant text, or tool calls."""


@dataclass
class ScriptedModel:
    """The script, and what the server was sent.

    Attributes:
        replies: Replies still to give, in order; a request after the last one gets a 500.
        requests: Every request body received, in order.
    """

    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def next_reply(self, body: dict[str, Any]) -> Reply | None:
        """Record ``body`` and take the next reply (None when the script is exhausted)."""
        with self.lock:
            self.requests.append(body)
            return self.replies.pop(0) if self.replies else None

    def system_prompts(self) -> list[str]:
        """The system message of each request, in order."""
        return [
            message["content"]
            for body in self.requests
            for message in body["messages"][:1]
            if message["role"] == "system"
        ]

    def tool_calls_json(self, reply: list[ToolCall]) -> list[dict[str, Any]]:
        """Tool calls in OpenAI's wire format, with fresh ids."""
        return [
            {
                "id": f"call_{next(self._ids)}",
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.args)},
            }
            for call in reply
        ]


def _completion(model: str, message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _handler(script: ScriptedModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if not self.path.endswith("/chat/completions"):
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})
                return
            reply = script.next_reply(body)
            if reply is None:
                self._send_json(500, {"error": {"message": "the script has no reply left"}})
                return
            model = body.get("model", "scripted")
            if isinstance(reply, str):
                message: dict[str, Any] = {"role": "assistant", "content": reply}
                finish = "stop"
            else:
                message = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": script.tool_calls_json(reply),
                }
                finish = "tool_calls"
            if body.get("stream"):
                self._stream(model, message, finish)
            else:
                self._send_json(200, _completion(model, message, finish))

        def _send_json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, model: str, message: dict[str, Any], finish: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            chunks = [_chunk(model, {"role": "assistant", "content": ""})]
            if message.get("tool_calls"):
                chunks += [
                    _chunk(model, {"tool_calls": [{"index": index, **call}]})
                    for index, call in enumerate(message["tool_calls"])
                ]
            else:
                words = message["content"].split(" ")
                chunks += [
                    _chunk(model, {"content": word if i == 0 else f" {word}"})
                    for i, word in enumerate(words)
                ]
            chunks.append(_chunk(model, {}, finish))
            for chunk in chunks:
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


@contextlib.contextmanager
def scripted_openai(script: ScriptedModel) -> Iterator[str]:
    """Serve ``script`` on a free loopback port until the block ends; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
