"""Tailor's own checks, run with llama.cpp's suite (run.sh copies this file into unit/): the
official openai client against tailord, plain and streamed, with every field OpenAI's API
reference marks required, and JSON mode answering with JSON."""

import json

import pytest
from openai import OpenAI
from utils import *

server: ServerProcess


@pytest.fixture(autouse=True)
def create_server():
    global server
    server = ServerPreset.tinyllama2()


def client() -> OpenAI:
    return OpenAI(api_key="unused", base_url=f"http://{server.server_host}:{server.server_port}/v1")


def sent(obj) -> dict:
    """The fields the server actually sent (not the client's defaults)."""
    return obj.model_dump(exclude_unset=True)


def require(fields: dict, *names: str):
    for name in names:
        assert name in fields, f"{name} missing from {fields}"


def test_chat_completion_has_every_required_field():
    server.start()
    res = sent(
        client().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello."}], max_tokens=8
        )
    )
    require(res, "id", "object", "created", "model", "choices", "usage")
    assert res["object"] == "chat.completion"
    choice = res["choices"][0]
    require(choice, "index", "message", "finish_reason", "logprobs")
    require(choice["message"], "role", "content", "refusal")
    require(res["usage"], "prompt_tokens", "completion_tokens", "total_tokens")


def test_streamed_chat_chunks_have_every_required_field():
    server.start()
    chunks = [
        sent(c)
        for c in client().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, stream=True
        )
    ]
    assert len(chunks) > 2
    for chunk in chunks:
        require(chunk, "id", "object", "created", "model", "choices")
        assert chunk["object"] == "chat.completion.chunk"
        for choice in chunk["choices"]:
            require(choice, "index", "delta", "finish_reason")
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert len({c["id"] for c in chunks}) == 1


def test_completion_plain_and_streamed_have_every_required_field():
    server.start()
    res = sent(client().completions.create(model="davinci-002", prompt="The capital of France is", max_tokens=8))
    require(res, "id", "object", "created", "model", "choices", "usage")
    assert res["object"] == "text_completion"
    require(res["choices"][0], "index", "text", "finish_reason", "logprobs")
    chunks = [
        sent(c)
        for c in client().completions.create(
            model="davinci-002", prompt="The capital of France is", max_tokens=8, stream=True
        )
    ]
    for chunk in chunks:
        require(chunk, "id", "object", "created", "model", "choices")
        for choice in chunk["choices"]:
            require(choice, "index", "text", "finish_reason", "logprobs")


def test_json_mode_answers_with_json():
    server.start()
    res = client().chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Describe a cat as a JSON object with the keys name and color."}],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=200,
    )
    answer = json.loads(res.choices[0].message.content)
    assert isinstance(answer, dict)
