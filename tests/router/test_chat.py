"""The chat-completions client against a real local server that answers, fails, hangs and drips."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from omega_actors.errors import (
    ConfigError,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RouterInputError,
)
from omega_actors.router import chat
from omega_actors.router.chat import ChatEndpoint, ChatReply, complete
from tests.router.chat_server import ChatServer

SHORT = 0.3  # seconds: the deadline of the timeout tests
GENEROUS = 10 * SHORT  # the most any timeout test may take; wall-clock bounds are never tighter
TOKEN_VARIABLE = "OMEGA_TEST_CHAT_TOKEN"
TOKEN = "sk-test-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


def endpoint(server: ChatServer, model: str = "small", **overrides: object) -> ChatEndpoint:
    return ChatEndpoint(server.url, model, **overrides)  # type: ignore[arg-type]


def where(server: ChatServer, model: str = "small") -> str:
    return f"{server.url} (model {model!r})"


def test_an_answer_comes_back_with_the_servers_token_counts(server: ChatServer) -> None:
    reply = complete(endpoint(server), "name three rivers")

    assert reply.text == "small says: name three rivers"
    assert (reply.prompt_tokens, reply.completion_tokens) == (3, 5)  # the server counts words
    assert reply.model == "small"
    assert reply.latency_s >= 0
    assert server.requests == {"small": 1}


def test_the_request_carries_the_system_message_the_token_limit_and_temperature_zero(server: ChatServer) -> None:
    complete(endpoint(server, max_tokens=17), "hello", system="Be brief.")

    assert server.last_request == {
        "model": "small",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}],
        "max_tokens": 17,
        "temperature": 0,
    }


def test_the_answer_function_decides_the_text() -> None:
    with ChatServer(answer=lambda model, prompt: prompt.upper()) as shouting:
        assert complete(endpoint(shouting), "quiet please").text == "QUIET PLEASE"


def test_without_a_usage_block_tokens_are_estimated_at_four_characters_each(server: ChatServer) -> None:
    server.behave("no_usage")

    reply = complete(endpoint(server, model="m"), "abcde", system="xyz")

    assert reply.text == "m says: abcde"
    assert reply.prompt_tokens == math.ceil(len("abcde" + "xyz") / 4) == 2
    assert reply.completion_tokens == math.ceil(len("m says: abcde") / 4) == 4


def test_without_a_model_in_the_answer_the_endpoints_model_is_reported(server: ChatServer) -> None:
    server.behave("no_usage")

    assert complete(endpoint(server, model="tiny"), "hi").model == "tiny"


def test_a_wrong_answer_is_returned_as_it_came_for_the_router_to_judge(server: ChatServer) -> None:
    server.behave("wrong")

    reply = complete(endpoint(server), "two plus two")

    assert (reply.text, reply.completion_tokens) == ("WRONG", 1)


def test_each_model_can_be_given_its_own_behaviour(server: ChatServer) -> None:
    server.behave("fail", model="big")

    assert complete(endpoint(server, "small"), "hi").text == "small says: hi"
    with pytest.raises(ProviderUnavailable):
        complete(endpoint(server, "big"), "hi")
    assert server.requests == {"small": 1, "big": 1}


@pytest.mark.parametrize(("mode", "status"), [("fail", 500), ("busy", 429)])
def test_a_server_error_or_too_many_requests_makes_the_provider_unavailable(
        server: ChatServer, mode: str, status: int) -> None:
    server.behave(mode)

    with pytest.raises(ProviderUnavailable) as caught:
        complete(endpoint(server), "hi")

    message = str(caught.value)
    assert message.startswith(where(server))
    assert f"HTTP {status}" in message
    assert "model crashed" in message or "too many requests" in message  # the body's start is quoted


def test_a_refused_connection_makes_the_provider_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nobody = ChatEndpoint(f"http://127.0.0.1:{port}/v1", "small", timeout=5.0)

    with pytest.raises(ProviderUnavailable) as caught:
        complete(nobody, "hi")

    assert str(caught.value).startswith(f"http://127.0.0.1:{port}/v1 (model 'small')")
    assert "cannot connect" in str(caught.value)


def test_another_http_status_is_a_provider_error_but_not_unavailability(server: ChatServer) -> None:
    wrong_path = ChatEndpoint(server.url.removesuffix("/v1"), "small")  # the server answers 404

    with pytest.raises(ProviderError) as caught:
        complete(wrong_path, "hi")

    assert type(caught.value) is ProviderError
    assert "HTTP 404" in str(caught.value)
    assert "expected 200" in str(caught.value)


def test_json_without_choices_is_malformed_and_the_message_names_the_endpoint(server: ChatServer) -> None:
    server.behave("malformed")

    with pytest.raises(MalformedResponse) as caught:
        complete(endpoint(server), "hi")

    assert str(caught.value).startswith(where(server))
    assert "choices is missing or null; expected a non-empty list" in str(caught.value)


def test_a_body_that_is_not_json_is_malformed_and_the_message_names_the_endpoint(server: ChatServer) -> None:
    server.behave("garbage")

    with pytest.raises(MalformedResponse) as caught:
        complete(endpoint(server), "hi")

    assert str(caught.value).startswith(where(server))
    assert "not JSON" in str(caught.value)


def test_a_body_over_the_limit_is_malformed_even_when_its_length_was_not_declared(server: ChatServer) -> None:
    server.behave("huge")  # about 2 MB against the default limit of 1 MB

    with pytest.raises(MalformedResponse) as caught:
        complete(endpoint(server), "hi")

    assert str(caught.value).startswith(where(server))
    assert "max_response_bytes = 1000000" in str(caught.value)


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(server: ChatServer) -> None:
    with pytest.raises(MalformedResponse) as caught:
        complete(endpoint(server, max_response_bytes=50), "hi")

    assert "declares" in str(caught.value)
    assert "max_response_bytes = 50" in str(caught.value)


def test_a_hanging_server_times_out_at_the_deadline(server: ChatServer) -> None:
    server.behave("hang")

    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        complete(endpoint(server, timeout=SHORT), "hi")
    elapsed = time.monotonic() - started

    assert SHORT * 0.8 <= elapsed < GENEROUS
    assert str(caught.value).startswith(where(server))
    assert "within 0.3s" in str(caught.value)


def test_a_server_that_drips_bytes_still_times_out_at_the_whole_request_deadline(server: ChatServer) -> None:
    server.behave("drip")  # a byte every 50 ms: a per-read timeout of 0.3 s would never trip

    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        complete(endpoint(server, timeout=SHORT), "hi")

    assert SHORT * 0.8 <= time.monotonic() - started < GENEROUS


def test_the_bearer_token_is_sent_when_its_variable_is_set(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)

    complete(endpoint(server, api_key_env=TOKEN_VARIABLE), "hi")

    assert server.last_authorization == f"Bearer {TOKEN}"


def test_no_authorization_is_sent_when_its_variable_is_unset(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)

    complete(endpoint(server, api_key_env=TOKEN_VARIABLE), "hi")

    assert server.last_authorization is None


def test_the_token_never_appears_in_an_error_message_even_when_the_server_echoes_it(
        server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    server.behave("fail")  # its body quotes the request's Authorization header

    with pytest.raises(ProviderUnavailable) as caught:
        complete(endpoint(server, api_key_env=TOKEN_VARIABLE), "hi")

    assert server.last_authorization == f"Bearer {TOKEN}"
    assert TOKEN not in str(caught.value)
    assert "[redacted]" in str(caught.value)


def test_a_released_hanging_request_ends_without_an_answer(server: ChatServer) -> None:
    server.behave("hang")
    outcome: list[BaseException] = []
    client = threading.Thread(target=lambda: _capture(outcome, endpoint(server, timeout=60.0)))
    client.start()

    assert server.wait_for_requests(1)
    server.release()
    client.join()

    assert len(outcome) == 1 and isinstance(outcome[0], ProviderUnavailable)
    assert "dropped" in str(outcome[0])


def test_closing_the_server_ends_hung_requests_and_leaves_no_thread_behind() -> None:
    before = set(threading.enumerate())
    outcome: list[BaseException] = []
    server = ChatServer()
    server.behave("drip")
    client = threading.Thread(target=lambda: _capture(outcome, endpoint(server, timeout=60.0)))
    client.start()
    assert server.wait_for_requests(1)

    server.close()
    client.join()

    assert len(outcome) == 1 and isinstance(outcome[0], ProviderError)
    assert set(threading.enumerate()) == before


def _capture(outcome: list[BaseException], target: ChatEndpoint) -> None:
    try:
        complete(target, "hi")
    except BaseException as exc:  # noqa: BLE001 -- the test thread hands whatever happened to the test
        outcome.append(exc)


def test_an_unknown_server_mode_is_refused_with_the_modes_accepted(server: ChatServer) -> None:
    with pytest.raises(ValueError, match="expected one of: ok, no_usage"):
        server.behave("sulk")


def test_a_prompt_that_is_not_text_is_refused(server: ChatServer) -> None:
    with pytest.raises(RouterInputError, match="expected the prompt and the system message as text"):
        complete(endpoint(server), b"bytes")  # type: ignore[arg-type]
    assert server.requests == {}


@pytest.mark.parametrize(("field", "value", "accepted"), [
    ("base_url", "ftp://example.org/v1", "http:// or https://"),
    ("base_url", "127.0.0.1:11434/v1", "http:// or https://"),
    ("base_url", "http:///v1", "with a host"),
    ("base_url", "http://127.0.0.1:99999/v1", "port"),
    ("base_url", "http://127.0.0.1/v1?key=1", "without a query"),
    ("base_url", 11434, "http:// or https://"),
    ("model", "", "non-empty model name"),
    ("model", "   ", "non-empty model name"),
    ("timeout", 0, "finite number of seconds > 0"),
    ("timeout", -1.0, "finite number of seconds > 0"),
    ("timeout", math.nan, "finite number of seconds > 0"),
    ("timeout", math.inf, "finite number of seconds > 0"),
    ("timeout", True, "finite number of seconds > 0"),
    ("max_tokens", 0, "whole number >= 1"),
    ("max_tokens", 1.5, "whole number >= 1"),
    ("api_key_env", "1BAD", "environment variable name"),
    ("api_key_env", "HAS SPACE", "environment variable name"),
    ("max_response_bytes", 0, "whole number >= 1"),
])
def test_an_invalid_endpoint_is_refused_naming_the_field_and_what_is_accepted(
        field: str, value: object, accepted: str) -> None:
    fields: dict[str, object] = {"base_url": "http://127.0.0.1:11434/v1", "model": "llama3.2:1b", field: value}

    with pytest.raises(ConfigError) as caught:
        ChatEndpoint(**fields)  # type: ignore[arg-type]

    assert caught.value.key == field
    assert accepted in str(caught.value)
    assert repr(value) in str(caught.value) or field == "base_url"


def test_a_password_in_the_url_is_refused_without_repeating_it() -> None:
    with pytest.raises(ConfigError) as caught:
        ChatEndpoint("https://user:hunter2@api.example.org/v1", "m")

    assert caught.value.key == "base_url"
    assert "hunter2" not in str(caught.value)


def test_a_valid_endpoint_keeps_its_defaults() -> None:
    defaults = ChatEndpoint("https://api.example.org/v1", "gpt-4o-mini")

    assert (defaults.timeout, defaults.max_tokens, defaults.api_key_env, defaults.max_response_bytes) == (
        30.0, 256, "", 1_000_000)


# Each field's check, on decoded answers: the server's modes cover the common failures, these the rest.
ANSWER = {"choices": [{"message": {"content": "fine"}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}


@pytest.mark.parametrize(("data", "complaint"), [
    ({"choices": []}, "choices is []; expected a non-empty list"),
    ({"choices": "fine"}, "choices is 'fine'; expected a non-empty list"),
    ({"choices": [{}]}, "choices[0].message is missing or null"),
    ({"choices": ["fine"]}, "choices[0].message is missing or null"),
    ({"choices": [{"message": {"content": None}}]}, "choices[0].message.content is missing or null; expected a string"),
    ({"choices": [{"message": {"content": 7}}]}, "choices[0].message.content is 7; expected a string"),
    ({**ANSWER, "usage": []}, "usage is []; expected an object"),
    ({**ANSWER, "usage": {"prompt_tokens": 10**400}}, "usage.prompt_tokens is 1000"),
    ({**ANSWER, "usage": {"prompt_tokens": -1}}, "usage.prompt_tokens is -1; expected a whole number from 0 to 10,000,000"),
    ({**ANSWER, "usage": {"completion_tokens": 2.5}}, "usage.completion_tokens is 2.5; expected a whole number from 0 to 10,000,000"),
    ({**ANSWER, "usage": {"completion_tokens": True}}, "usage.completion_tokens is True"),
])
def test_each_malformed_field_is_named_with_what_was_expected(data: dict[str, object], complaint: str) -> None:
    target = ChatEndpoint("http://127.0.0.1:11434/v1", "m")

    with pytest.raises(MalformedResponse) as caught:
        chat._reply(target, data, "prompt", None, 0.1)

    assert str(caught.value).startswith("http://127.0.0.1:11434/v1 (model 'm'): ")
    assert complaint in str(caught.value)


def test_json_nested_deeper_than_the_parser_can_go_is_malformed_not_a_crash() -> None:
    target = ChatEndpoint("http://127.0.0.1:11434/v1", "m")

    with pytest.raises(MalformedResponse, match="not JSON"):
        chat._decode(target, b"[" * 100_000)


def test_a_token_cut_short_in_an_error_message_is_still_redacted() -> None:
    token = "sk-" + "a1b2c3d4" * 8
    message = "server says: Authorization: Bearer " + token[:20] + "..."

    assert token[:8] not in chat._redact(message, token)


def test_a_json_answer_that_is_not_an_object_is_malformed() -> None:
    target = ChatEndpoint("http://127.0.0.1:11434/v1", "m")

    with pytest.raises(MalformedResponse, match="is JSON list; expected a chat completion object"):
        chat._decode(target, b"[1, 2]")


def test_usage_counts_of_the_server_are_kept_and_missing_ones_estimated() -> None:
    target = ChatEndpoint("http://127.0.0.1:11434/v1", "m")
    data = {"choices": [{"message": {"content": "12345678"}}], "usage": {"prompt_tokens": 9}}

    assert chat._reply(target, data, "p", None, 0.5) == ChatReply("12345678", 9, 2, "m", 0.5)
