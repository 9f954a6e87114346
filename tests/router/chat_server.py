"""A real HTTP server that speaks the chat-completions protocol, and misbehaves on request.

::

    with ChatServer() as server:
        server.behave("fail", model="big")  # only "big" answers HTTP 500
        reply = complete(ChatEndpoint(server.url, "small"), "hello there")
        assert reply.text == "small says: hello there"
        assert server.requests == {"small": 1}

Modes, set for every model (``model=None``) or for one:

- ``ok``: the answer function's text, with a ``usage`` block (tokens = words) and the model;
- ``no_usage``: the same text, with neither ``usage`` nor ``model``, as some servers answer;
- ``wrong``: ``"WRONG"`` instead of the answer function's text, with ``usage``;
- ``fail``: HTTP 500; the body echoes the request's Authorization header, as a debugging
  proxy might, so tests can check that the client keeps the token out of its errors;
- ``busy``: HTTP 429;
- ``malformed``: 200 with a JSON object that has no ``choices``;
- ``garbage``: 200 with an HTML page;
- ``hang``: sends nothing until :meth:`ChatServer.release` or :meth:`ChatServer.close`,
  then closes the connection;
- ``drip``: sends the headers, then one byte of body every 50 ms until released or closed,
  then closes the connection;
- ``huge``: a valid completion of about 2 MB, with no Content-Length (the connection's end
  marks the body's), so only a client that counts what it reads can refuse it.

Nothing here waits by sleeping: hanging and dripping requests wait on a ``threading.Event``
that release and close set, and :meth:`ChatServer.wait_for_requests` waits on a condition,
so the tests behave the same on a loaded machine. ``close`` joins every request thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

MODES = ("ok", "no_usage", "wrong", "fail", "busy", "malformed", "garbage", "hang", "drip", "huge")
DRIP_INTERVAL = 0.05  # seconds between bytes; each wait ends early when the request is released
HUGE_CHARS = 2_000_000
PATH = "/v1/chat/completions"

Answer = Callable[[str, str], str]


def echo(model: str, prompt: str) -> str:
    return f"{model} says: {prompt}"


class ChatServer:
    """Serves on 127.0.0.1, on a free port, from a daemon thread, until :meth:`close`."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer = answer or echo
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._modes: dict[str | None, str] = {None: "ok"}
        self._requests: dict[str, int] = {}
        self._gate = threading.Event()  # set by release: the requests holding this gate go on
        self._closing = False
        self.last_authorization: str | None = None
        self.last_request: dict[str, Any] | None = None
        self._http = _HTTPServer(("127.0.0.1", 0), self)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/v1"
        # A short poll interval so close() does not wait half a second for serve_forever to notice.
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="chat-server", daemon=True)
        self._thread.start()

    def __enter__(self) -> ChatServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @property
    def requests(self) -> dict[str, int]:
        """Requests received so far, per model (a copy)."""
        with self._lock:
            return dict(self._requests)

    def behave(self, mode: str, *, model: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of: {', '.join(MODES)}")
        with self._lock:
            self._modes[model] = mode

    def release(self) -> None:
        """Let every request that is hanging or dripping now finish; later ones hang again."""
        with self._lock:
            gate = self._gate
            if not self._closing:
                self._gate = threading.Event()
        gate.set()

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` requests have arrived in all; False if they did not within ``timeout``."""
        with self._arrived:
            return self._arrived.wait_for(lambda: sum(self._requests.values()) >= count, timeout)

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            gate = self._gate  # never replaced from now on, so later requests pass it too
        gate.set()
        self._http.shutdown()
        self._http.server_close()  # joins every request thread; none is waiting any more
        self._thread.join()

    def _arrive(self, model: str, authorization: str | None, payload: dict[str, Any]) -> tuple[str, threading.Event]:
        # The gate is taken with the count, under one lock: a test that saw the request
        # arrive and then calls release() is sure to release this one.
        with self._arrived:
            self._requests[model] = self._requests.get(model, 0) + 1
            self.last_authorization = authorization
            self.last_request = payload
            self._arrived.notify_all()
            return self._modes.get(model, self._modes[None]), self._gate


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True  # server_close joins the request threads, so a test leaves none behind

    def __init__(self, address: tuple[str, int], owner: ChatServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = 10.0  # a client that connects and sends nothing cannot hold close() for longer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line on stderr per request would bury the tests' own output

    def do_POST(self) -> None:
        if self.path != PATH:
            self._send_json(404, {"error": {"message": f"no route {self.path}; this server serves {PATH}"}})
            return
        request = self._read_request()
        if request is None:
            self._send_json(400, {"error": {"message": "expected a chat completion request"}})
            return
        model, prompt, payload = request
        authorization = self.headers.get("Authorization")
        mode, gate = self.server.owner._arrive(model, authorization, payload)
        try:
            self._respond(mode, gate, model, prompt, authorization)
        except ConnectionError:
            pass  # the client gave up first, which is what the timeout tests make it do

    def _read_request(self) -> tuple[str, str, dict[str, Any]] | None:
        try:
            payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            model, prompt = payload["model"], payload["messages"][-1]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        if not isinstance(model, str) or not isinstance(prompt, str):
            return None
        return model, prompt, payload

    def _respond(self, mode: str, gate: threading.Event, model: str, prompt: str,
                 authorization: str | None) -> None:
        if mode == "ok":
            self._send_json(200, completion(model, self.server.owner.answer(model, prompt), prompt))
        elif mode == "no_usage":
            self._send_json(200, completion(model, self.server.owner.answer(model, prompt), prompt, bare=True))
        elif mode == "wrong":
            self._send_json(200, completion(model, "WRONG", prompt))
        elif mode == "fail":
            self._send_json(500, {"error": {"message": "the model crashed",
                                            "request": {"authorization": authorization}}})
        elif mode == "busy":
            self._send_json(429, {"error": {"message": "too many requests; try again later"}})
        elif mode == "malformed":
            self._send_json(200, {"object": "chat.completion", "model": model})
        elif mode == "garbage":
            self._send(200, b"<html><body><h1>It works!</h1></body></html>", "text/html")
        elif mode == "hang":
            gate.wait()  # then return without a word: the connection closes with no answer
        elif mode == "drip":
            self._drip(gate)
        elif mode == "huge":
            body = json.dumps(completion(model, "x" * HUGE_CHARS, prompt)).encode()
            self._send(200, body, "application/json", declare_length=False)

    def _drip(self, gate: threading.Event) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"choices": [')
        while not gate.wait(DRIP_INTERVAL):
            self.wfile.write(b" ")

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str, *, declare_length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if declare_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def completion(model: str, text: str, prompt: str, *, bare: bool = False) -> dict[str, Any]:
    """A chat completion; ``bare`` leaves out ``usage`` and ``model``, as some servers do."""
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if bare:
        return {"choices": [choice]}
    prompt_tokens, completion_tokens = len(prompt.split()), len(text.split())
    return {"id": "chatcmpl-test", "object": "chat.completion", "model": model, "choices": [choice],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
