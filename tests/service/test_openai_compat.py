"""Any OpenAI client can drive the service: the real ``openai`` SDK, stream and non-stream."""

from __future__ import annotations

import httpx
import openai
import pytest

from loadtests.processes import ManagedProcess


@pytest.fixture
def client(chat_service: ManagedProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{chat_service.url}/v1", api_key="unused", max_retries=0)


def test_streaming_completion_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="auto", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "What is included in the Team plan?"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks
              if c.choices and c.choices[0].finish_reason]
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(text.split()) >= 5
    assert finish == ["stop"]
    assert len(usage) == 1 and usage[0].completion_tokens > 0
    assert usage[0].total_tokens == usage[0].prompt_tokens + usage[0].completion_tokens


def test_non_streaming_completion_goes_through_the_same_cache(
    client: openai.OpenAI, chat_service: ManagedProcess
) -> None:
    messages = [{"role": "user", "content": "How do I invite a colleague to my workspace?"}]
    first = client.chat.completions.with_raw_response.create(model="auto", messages=messages)
    second = client.chat.completions.with_raw_response.create(model="auto", messages=messages)
    assert first.headers["x-cache"] == "miss" and second.headers["x-cache"] == "hit"
    one, two = first.parse(), second.parse()
    assert one.choices[0].message.content == two.choices[0].message.content
    assert one.choices[0].finish_reason == "stop" and one.usage.completion_tokens > 0
    # and our own streaming API sees the same cached answer
    quick = httpx.post(f"{chat_service.url}/api/chat/quick",
                       json={"message": messages[0]["content"]}).json()
    assert quick["hit"] is True and quick["answer"] == one.choices[0].message.content


def test_configured_model_names_select_their_tier(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Hi, who are you?"}]
    )
    assert completion.model == "gpt-4o"


def test_models_are_listed(client: openai.OpenAI) -> None:
    names = {model.id for model in client.models.list()}
    assert {"auto", "gpt-4o-mini", "gpt-4o"} <= names


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "auto", "messages": []}, "messages"),
        ({"model": "auto", "messages": [{"role": "assistant", "content": "hi"}]}, "messages"),
        ({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "auto", "stream": "yes", "messages": [{"role": "user", "content": "hi"}]},
         "stream"),
    ],
)
def test_bad_requests_raise_the_sdk_error_a_client_expects(
    client: openai.OpenAI, body: dict, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:  # 400, as OpenAI answers
        client.chat.completions.create(**body)
    assert caught.value.body["param"] == param
