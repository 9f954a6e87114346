"""An OpenAI-compatible chat-completions client: one prompt in, one answer out, within one deadline.

Usage::

    from omega_actors.router.chat import ChatEndpoint, complete

    local = ChatEndpoint("http://127.0.0.1:11434/v1", "qwen2.5:0.5b", timeout=20.0)
    reply = complete(local, "Summarise this synopsis in one line: ...", system="Be brief.")
    reply.text, reply.prompt_tokens, reply.completion_tokens, reply.model, reply.latency_s

The same client speaks to Ollama, llama.cpp's server, vLLM and hosted APIs: all of them
serve ``POST {base_url}/chat/completions``. A bearer token, when one is needed, is read at
each call from the environment variable that ``api_key_env`` names, so it never sits in a
config file, and it is kept out of every error message.

What can go wrong, as types (all of them :class:`~omega_actors.errors.ProviderError`):

- :class:`~omega_actors.errors.ProviderUnavailable`: the connection was refused, the name
  did not resolve, or the connection dropped; or HTTP 429 or 5xx. Worth trying later, or elsewhere.
- :class:`~omega_actors.errors.ProviderTimeout`: no complete answer within ``timeout``.
- :class:`~omega_actors.errors.MalformedResponse`: an answer, but not in the protocol
  (too large, not JSON, no choices, no text, bad token counts).
- :class:`~omega_actors.errors.ProviderError` itself: any other HTTP status (401, 404, ...),
  which is a configuration problem rather than a passing one.

Every message starts with the endpoint's URL and model, so an operator knows which layer failed.

Design notes. The deadline bounds the whole request: connect, send, status line, headers
and body. A socket timeout alone would not: it bounds each receive, and a server that sends
one byte just before each timeout never trips it. So every read from the socket goes through
:class:`_DeadlineReader`, which checks a monotonic deadline and sets the socket timeout to
what is left before each receive. Name resolution is the one step it cannot bound:
``getaddrinfo`` takes no timeout, and the stdlib has no way to interrupt it; an IP address
or a name in /etc/hosts avoids the question. The body is read in chunks and never past
``max_response_bytes``, whether or not the server declared its length, so a broken or hostile
server cannot make the client hold an unbounded answer. There are no retries and no circuit
breaker here: whether to try again, and where, is the router's decision, taken from the
error's type.
"""

from __future__ import annotations

import http.client
import io
import json
import math
import os
import re
import socket
import time
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import SplitResult, urlsplit

from omega_actors.errors import (
    ConfigError,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RouterInputError,
)

__all__ = ["ChatEndpoint", "ChatReply", "complete"]

_CHUNK = 64 * 1024  # bytes per body read; small enough that the size cap is checked often
_SNIPPET_CHARS = 200  # how much of an error body goes into the message
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class ChatEndpoint:
    """Where one model is served, and how long and how much the client will wait for it."""

    base_url: str
    model: str
    timeout: float = 30.0  # seconds for the whole request: connect, send and read
    max_tokens: int = 256
    api_key_env: str = ""  # the environment variable holding a bearer token; "" sends none
    max_response_bytes: int = 1_000_000

    def __post_init__(self) -> None:
        _check_base_url(self.base_url)
        _check_model(self.model)
        _check_timeout(self.timeout)
        _check_count("max_tokens", self.max_tokens)
        _check_api_key_env(self.api_key_env)
        _check_count("max_response_bytes", self.max_response_bytes)

    def __str__(self) -> str:
        return f"{self.base_url} (model {self.model!r})"


def _check_base_url(value: object) -> None:
    accepted = "expected an http:// or https:// URL with a host, such as 'http://127.0.0.1:11434/v1'"
    if not isinstance(value, str):
        raise ConfigError(f"{accepted}; got {value!r}", key="base_url")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a port that is not a number in range
    except ValueError:
        raise ConfigError(f"{accepted}; got {value!r}, whose port is not a number from 0 to 65535", key="base_url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{accepted}; got {value!r}", key="base_url")
    if parts.username is not None or parts.password is not None:
        # The URL goes into every error message; a password in it would go there too.
        raise ConfigError("expected a URL without a user or password (the token goes in the variable "
                          "named by api_key_env); got a URL with credentials", key="base_url")
    if parts.query or parts.fragment:
        raise ConfigError(f"{accepted}, without a query or fragment; got {value!r}", key="base_url")


def _check_model(value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"expected a non-empty model name, such as 'llama3.2:1b'; got {value!r}", key="model")


def _check_timeout(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ConfigError(f"expected a finite number of seconds > 0; got {value!r}", key="timeout")


def _check_count(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"expected a whole number >= 1; got {value!r}", key=key)


def _check_api_key_env(value: object) -> None:
    if not isinstance(value, str) or (value and not _ENV_NAME.fullmatch(value)):
        raise ConfigError(f"expected '' (no token) or an environment variable name such as 'OPENAI_API_KEY'; "
                          f"got {value!r}", key="api_key_env")


@dataclass(frozen=True, slots=True)
class ChatReply:
    """One answer. Token counts are the server's, or estimated at four characters a token when it sent none."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str  # the model the server says answered, else the endpoint's
    latency_s: float


def complete(endpoint: ChatEndpoint, prompt: str, *, system: str | None = None) -> ChatReply:
    """Ask ``endpoint`` for one answer to ``prompt``; raise a :class:`ProviderError` subclass if there is none."""
    if not isinstance(prompt, str) or not (system is None or isinstance(system, str)):
        raise RouterInputError(f"{endpoint}: expected the prompt and the system message as text; "
                               f"got {type(prompt).__name__} and {type(system).__name__}")
    token = os.environ.get(endpoint.api_key_env, "") if endpoint.api_key_env else ""
    started = time.monotonic()
    try:
        body = _post(endpoint, _request_body(endpoint, prompt, system), token, started + endpoint.timeout)
        latency = time.monotonic() - started
        return _reply(endpoint, _decode(endpoint, body), prompt, system, latency)
    except ProviderError as exc:
        # A server or proxy may echo the request's headers into its error body, which the
        # message quotes; the token must not reach logs that way.
        redacted = _redact(str(exc), token)
        if redacted != str(exc):
            raise type(exc)(redacted) from None
        raise


def _redact(message: str, token: str) -> str:
    """``message`` without ``token``, whole or cut short where the message quotes a body only in part."""
    if not token:
        return message
    message = message.replace(token, "[redacted]")
    for end in range(len(token) - 1, 5, -1):
        message = message.replace(token[:end] + "...", "[redacted]...")
    return message


def _request_body(endpoint: ChatEndpoint, prompt: str, system: str | None) -> bytes:
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages.append({"role": "user", "content": prompt})
    # temperature 0: the router compares layers' answers, which needs them repeatable.
    payload = {"model": endpoint.model, "messages": messages, "max_tokens": endpoint.max_tokens, "temperature": 0}
    return json.dumps(payload).encode("utf-8")


def _post(endpoint: ChatEndpoint, body: bytes, token: str, deadline: float) -> bytes:
    """The 2xx response body; every transport failure becomes a ProviderError subclass."""
    try:
        return _exchange(endpoint, body, token, deadline)
    except TimeoutError:
        raise ProviderTimeout(f"{endpoint}: no complete answer within {endpoint.timeout:.3g}s "
                              f"(connect, send and read together)") from None
    except (http.client.IncompleteRead, ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
        raise ProviderUnavailable(f"{endpoint}: the connection dropped before a whole answer "
                                  f"({type(exc).__name__})") from None
    except http.client.HTTPException as exc:
        raise MalformedResponse(f"{endpoint}: the answer is not valid HTTP ({type(exc).__name__}: "
                                f"{_snippet(str(exc))}); expected an HTTP/1.x response") from None
    except OSError as exc:
        raise ProviderUnavailable(f"{endpoint}: cannot connect ({exc.strerror or exc})") from None


def _exchange(endpoint: ChatEndpoint, body: bytes, token: str, deadline: float) -> bytes:
    url = urlsplit(endpoint.base_url)
    connection = _connection(url, _remaining(deadline))
    try:
        connection.connect()
        connection.sock.settimeout(_remaining(deadline))
        connection.request("POST", url.path.rstrip("/") + "/chat/completions", body, _headers(token))
        # HTTPResponse reads only through sock.makefile("rb"), so this is how every read of the
        # status line, the headers and the body comes to check the deadline.
        reader = cast(socket.socket, _DeadlineSocket(connection.sock, deadline))
        response = http.client.HTTPResponse(reader, method="POST")
        try:
            response.begin()
            return _body(endpoint, response)
        finally:
            response.close()
    finally:
        connection.close()


def _connection(url: SplitResult, timeout: float) -> http.client.HTTPConnection:
    if url.scheme == "https":
        return http.client.HTTPSConnection(url.hostname or "", url.port, timeout=timeout)
    return http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)


def _headers(token: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json", "Connection": "close"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


class _DeadlineSocket:
    """Just enough of a socket for HTTPResponse: a reader whose every receive respects the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_remaining(self._deadline))
        return self._sock.recv_into(buffer)


def _body(endpoint: ChatEndpoint, response: http.client.HTTPResponse) -> bytes:
    status = response.status
    if status == 429 or status >= 500:
        raise ProviderUnavailable(f"{endpoint}: HTTP {status} {response.reason}: {_error_text(response)}")
    if not 200 <= status < 300:
        raise ProviderError(f"{endpoint}: HTTP {status} {response.reason}: {_error_text(response)}; "
                            f"expected 200 (check base_url, model and api_key_env)")
    limit = endpoint.max_response_bytes
    if response.length is not None and response.length > limit:
        raise _too_large(endpoint, f"declares {response.length} bytes")
    body = _read_at_most(response, limit + 1)  # one byte over the limit is enough to know
    if len(body) > limit:
        raise _too_large(endpoint, "is longer")
    return body


def _too_large(endpoint: ChatEndpoint, how: str) -> MalformedResponse:
    return MalformedResponse(f"{endpoint}: the response body {how} than max_response_bytes = "
                             f"{endpoint.max_response_bytes}; expected a chat completion within it")


def _read_at_most(response: http.client.HTTPResponse, size: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < size:
        chunk = response.read(min(_CHUNK, size - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _error_text(response: http.client.HTTPResponse) -> str:
    try:
        text = _read_at_most(response, 4 * _SNIPPET_CHARS).decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException):
        text = ""  # the status already says what matters; a body that fails to arrive adds nothing
    return _snippet(text) or "(no body)"


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET_CHARS else flat[:_SNIPPET_CHARS] + "..."


def _decode(endpoint: ChatEndpoint, body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # nesting deeper than the parser's stack is not a chat completion either
        raise MalformedResponse(f"{endpoint}: the response body is not JSON ({_snippet(repr(body[:80]))}); "
                                f"expected a chat completion object") from None
    if not isinstance(data, dict):
        raise MalformedResponse(f"{endpoint}: the response is JSON {type(data).__name__}; "
                                f"expected a chat completion object")
    return data


def _reply(endpoint: ChatEndpoint, data: dict[str, Any], prompt: str, system: str | None,
           latency: float) -> ChatReply:
    text = _answer_text(endpoint, data)
    usage = data.get("usage")
    if usage is None:
        usage = {}
    elif not isinstance(usage, dict):
        raise _malformed(endpoint, "usage", usage, "an object with prompt_tokens and completion_tokens")
    model = data.get("model")
    return ChatReply(
        text=text,
        prompt_tokens=_tokens(endpoint, usage, "prompt_tokens", prompt + (system or "")),
        completion_tokens=_tokens(endpoint, usage, "completion_tokens", text),
        model=model if isinstance(model, str) and model else endpoint.model,
        latency_s=latency,
    )


def _answer_text(endpoint: ChatEndpoint, data: dict[str, Any]) -> str:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _malformed(endpoint, "choices", choices, "a non-empty list")
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise _malformed(endpoint, "choices[0].message", message, "an object with a 'content' string")
    content = message.get("content")
    if not isinstance(content, str):
        raise _malformed(endpoint, "choices[0].message.content", content, "a string")
    return content


def _tokens(endpoint: ChatEndpoint, usage: dict[str, Any], key: str, counted: str) -> int:
    value = usage.get(key)
    if value is None:
        return math.ceil(len(counted) / 4)  # about four characters a token, in English, for most tokenizers
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        raise _malformed(endpoint, f"usage.{key}", value, f"a whole number from 0 to {MAX_TOKENS:,}")
    return value


# No single call reports more tokens than this; a larger count is a broken or hostile server, and
# would overflow the cost arithmetic downstream.
MAX_TOKENS = 10_000_000


def _malformed(endpoint: ChatEndpoint, field: str, value: object, expected: str) -> MalformedResponse:
    found = "missing or null" if value is None else _snippet(repr(value))[:80]
    return MalformedResponse(f"{endpoint}: {field} is {found}; expected {expected}")
