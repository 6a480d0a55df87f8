"""The real ``openai`` SDK accepts the simulator's answers, streamed and not, and its errors."""

from __future__ import annotations

import openai
import pytest

from loadtests.simulator import DEFAULT_MODELS
from tests.loadtests.simulator.sim_helpers import QUESTION


def test_models_lists_the_default_fast_and_smart_models(client: openai.OpenAI) -> None:
    names = [model.id for model in client.models.list()]
    assert names == list(DEFAULT_MODELS)
    assert client.models.retrieve("llama-3.1-8b").id == "llama-3.1-8b"


def test_stream_with_usage_matches_the_non_streamed_answer(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=QUESTION, stream=True,
        stream_options={"include_usage": True},
    ))
    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    deltas = [d for d in deltas if d]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens == len(deltas)
    assert usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    whole = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert whole.choices[0].message.content == "".join(deltas)
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage is not None
    assert whole.usage.completion_tokens == len(deltas)


def test_answer_reads_as_prose_that_ends_a_sentence(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    text = whole.choices[0].message.content or ""
    assert text.endswith(".")
    assert len(text.split()) >= 15
    assert "cache" in text.lower() or "semantic" in text.lower()  # the question's own words
    assert whole.model == "gpt-4o"


@pytest.mark.parametrize("limit_field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_cuts_the_answer_with_finish_reason_length(
    client: openai.OpenAI, limit_field: str
) -> None:
    whole = client.chat.completions.create(
        model="gpt-4o-mini", messages=QUESTION, **{limit_field: 4}
    )
    assert whole.choices[0].finish_reason == "length"
    assert whole.usage is not None
    assert whole.usage.completion_tokens == 4


def test_any_model_name_is_accepted(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="my-local-model", messages=QUESTION)
    assert whole.model == "my-local-model"
    assert whole.choices[0].message.content


@pytest.mark.parametrize(
    ("fault", "error_class", "status"),
    [
        ("status-429", openai.RateLimitError, 429),
        ("status-503", openai.InternalServerError, 503),
        ("status-500", openai.InternalServerError, 500),
    ],
)
def test_status_faults_raise_the_sdk_error_for_their_status(
    client: openai.OpenAI, fault: str, error_class: type[openai.APIStatusError], status: int
) -> None:
    with pytest.raises(error_class) as caught:
        client.chat.completions.create(
            model="gpt-4o", messages=QUESTION, stream=True, extra_headers={"X-Sim-Fault": fault}
        )
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert set(caught.value.body) == {"message", "type", "code", "param"}


def test_error_chunk_raises_an_api_error_mid_stream(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o", messages=QUESTION, stream=True,
        extra_headers={"X-Sim-Fault": "error-chunk"},
    )
    received: list[str] = []
    with pytest.raises(openai.APIError, match="simulated"):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert len(received) == 3


def test_bad_requests_get_the_openai_error_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[])
    assert caught.value.body == {
        "message": caught.value.body["message"],  # wording is free; the shape is not
        "type": "invalid_request_error", "param": "messages", "code": None,
    }


def test_an_unknown_forced_fault_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="X-Sim-Fault"):
        client.chat.completions.create(
            model="gpt-4o", messages=QUESTION, extra_headers={"X-Sim-Fault": "explode"}
        )
