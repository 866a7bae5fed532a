"""The /v3 endpoints with the official openai client against a real server on the demo models,
checked against OpenVINO GenAI run in-process on the same folders."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import openvino_genai as genai
import pytest
from genai_models import EMBEDDINGS, LLM, LONG_STREAM, RERANK, build_all, greedy, scheduler
from server_process import ServerProcess, start_server

MESSAGES = [{"role": "user", "content": "Hello world! How are you today?"}]
PROMPT = "The quick brown fox"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_all(tmp_path_factory.mktemp("genai"))


@pytest.fixture(scope="module")
def genai_server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("genai-logs") / "ovms.log"
    running = start_server(["--config_path", str(models), "--metrics_enable", "--log_level", "DEBUG"], log)
    yield running
    assert running.stop() == 0, running.log_text()


@pytest.fixture(scope="module")
def client(genai_server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://{genai_server.rest_url}/v3", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def reference(models: Path) -> genai.ContinuousBatchingPipeline:
    return genai.ContinuousBatchingPipeline(str(models.parent / LLM), scheduler(), "CPU")


def _reference(
    pipeline: genai.ContinuousBatchingPipeline, text: str, chat: bool, tokens: int
) -> tuple[str, int]:
    tokenizer = pipeline.get_tokenizer()
    if chat:
        text = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)
    ids = tokenizer.encode(text, add_special_tokens=not chat).input_ids
    handle = pipeline.add_request(0, ids, greedy(tokens))
    while pipeline.has_non_finished_requests():
        pipeline.step()
    generated = handle.read_all()[0].generated_ids
    return tokenizer.decode(generated), int(ids.shape[1])


def test_models_are_listed(client: openai.OpenAI) -> None:
    listed = {m.id: m for m in client.models.list()}
    assert set(listed) == {LLM, EMBEDDINGS, RERANK}
    assert client.models.retrieve(LLM).owned_by == "OVMS"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("missing")


def test_chat_greedy_equals_in_process(
    client: openai.OpenAI, reference: genai.ContinuousBatchingPipeline
) -> None:
    answer = client.chat.completions.create(
        model=LLM, messages=MESSAGES, max_tokens=12, temperature=0, extra_body={"ignore_eos": True}
    )
    text, prompt_tokens = _reference(reference, MESSAGES[0]["content"], chat=True, tokens=12)
    assert answer.choices[0].message.content == text
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].finish_reason == "length"
    assert answer.object == "chat.completion"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt_tokens, 12)


def test_chat_greedy_equals_llm_pipeline(client: openai.OpenAI, models: Path) -> None:
    pipeline = genai.LLMPipeline(str(models.parent / LLM), "CPU")
    tokenizer = pipeline.get_tokenizer()
    prompt = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True)
    ids = tokenizer.encode(prompt, add_special_tokens=False).input_ids
    expected = tokenizer.decode(pipeline.generate(ids, greedy(10)).tokens[0])
    answer = client.chat.completions.create(
        model=LLM, messages=MESSAGES, max_tokens=10, temperature=0, extra_body={"ignore_eos": True}
    )
    assert answer.choices[0].message.content == expected


def test_completion_greedy_equals_in_process(
    client: openai.OpenAI, reference: genai.ContinuousBatchingPipeline
) -> None:
    answer = client.completions.create(
        model=LLM, prompt=PROMPT, max_tokens=9, temperature=0, extra_body={"ignore_eos": True}
    )
    text, prompt_tokens = _reference(reference, PROMPT, chat=False, tokens=9)
    assert answer.choices[0].text == text
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (
        prompt_tokens,
        9,
        prompt_tokens + 9,
    )


def _in_process(
    pipeline: genai.ContinuousBatchingPipeline, prompt: str, config: genai.GenerationConfig
) -> tuple[list[genai.GenerationOutput], int]:
    """Every returned sequence of ``prompt`` (completions: special tokens added), best score first, as
    GenAI's ``generate`` ranks them; and the prompt's token count."""
    tokenizer = pipeline.get_tokenizer()
    ids = tokenizer.encode(prompt, add_special_tokens=True).input_ids
    handle = pipeline.add_request(1, ids, config)
    while pipeline.has_non_finished_requests():
        pipeline.step()
    outputs = sorted(handle.read_all(), key=lambda output: output.score, reverse=True)
    return outputs[: config.num_return_sequences], int(ids.shape[1])


def test_n_and_best_of_are_beam_search_equal_to_in_process(
    client: openai.OpenAI, reference: genai.ContinuousBatchingPipeline
) -> None:
    answer = client.completions.create(
        model=LLM, prompt=PROMPT, max_tokens=6, n=3, best_of=4, extra_body={"ignore_eos": True}
    )
    config = greedy(6)
    config.num_beams, config.num_return_sequences = 4, 3
    expected, prompt_tokens = _in_process(reference, PROMPT, config)
    tokenizer = reference.get_tokenizer()
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert [c.text for c in answer.choices] == [tokenizer.decode(o.generated_ids) for o in expected]
    assert [c.finish_reason for c in answer.choices] == ["length"] * 3
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt_tokens, 18)


def test_chat_n_alone_returns_n_choices(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model=LLM, messages=MESSAGES, max_tokens=5, n=2, extra_body={"ignore_eos": True}
    )
    assert [c.index for c in answer.choices] == [0, 1]
    assert all(c.message.content and c.finish_reason == "length" for c in answer.choices)
    assert answer.choices[0].message.content != answer.choices[1].message.content  # two beams
    assert answer.usage is not None and answer.usage.completion_tokens == 10


def test_completion_logprobs_equal_in_process(
    client: openai.OpenAI, reference: genai.ContinuousBatchingPipeline
) -> None:
    answer = client.completions.create(
        model=LLM, prompt=PROMPT, max_tokens=8, temperature=0, logprobs=1, extra_body={"ignore_eos": True}
    )
    config = greedy(8)
    config.logprobs = 1
    (expected,), _ = _in_process(reference, PROMPT, config)
    tokenizer = reference.get_tokenizer()
    choice = answer.choices[0]
    assert choice.text == tokenizer.decode(expected.generated_ids)
    assert choice.logprobs is not None
    assert choice.logprobs.token_logprobs == pytest.approx(list(expected.generated_log_probs), rel=1e-6)
    vocabulary = {token: raw for raw, token in tokenizer.get_vocab().items()}
    assert choice.logprobs.tokens == [
        _escaped(vocabulary[t]) if _part_of_a_character(vocabulary[t]) else tokenizer.decode([t])
        for t in expected.generated_ids
    ]
    assert choice.logprobs.top_logprobs == [
        {t: v} for t, v in zip(choice.logprobs.tokens, choice.logprobs.token_logprobs, strict=True)
    ]
    whole = [tokenizer.decode(list(expected.generated_ids[:i])) for i in range(8)]
    assert choice.logprobs.text_offset == [len(text) for text in whole]
    assert all(value <= 0 for value in choice.logprobs.token_logprobs)


def _part_of_a_character(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return True
    return False


def _escaped(raw: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in raw)


def test_chat_logprobs_follow_the_greedy_text(
    client: openai.OpenAI, reference: genai.ContinuousBatchingPipeline
) -> None:
    plain = client.chat.completions.create(
        model=LLM, messages=MESSAGES, max_tokens=6, temperature=0, extra_body={"ignore_eos": True}
    )
    answer = client.chat.completions.create(
        model=LLM,
        messages=MESSAGES,
        max_tokens=6,
        temperature=0,
        logprobs=True,
        extra_body={"ignore_eos": True},
    )
    assert answer.choices[0].message.content == plain.choices[0].message.content
    logprobs = answer.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert len(logprobs.content) == 6
    joined = bytes(b for token in logprobs.content for b in token.bytes or [])
    assert joined.decode(errors="ignore") == answer.choices[0].message.content
    for token in logprobs.content:
        assert token.top_logprobs == []
        assert token.logprob <= 0


@pytest.mark.parametrize("skip_special_tokens", [True, False])
@pytest.mark.parametrize("chat", [True, False])
def test_stream_equals_unary_with_usage(client: openai.OpenAI, chat: bool, skip_special_tokens: bool) -> None:
    """Without skipping special tokens the batched decode's padding printed, and the stream stalled."""
    extra = {"ignore_eos": True, "skip_special_tokens": skip_special_tokens}
    options = {"max_tokens": 14, "temperature": 0, "extra_body": extra}
    if chat:
        unary = client.chat.completions.create(model=LLM, messages=MESSAGES, **options)  # type: ignore[call-overload]
        stream = client.chat.completions.create(
            model=LLM, messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **options
        )
    else:
        unary = client.completions.create(model=LLM, prompt=PROMPT, **options)  # type: ignore[call-overload]
        stream = client.completions.create(
            model=LLM, prompt=PROMPT, stream=True, stream_options={"include_usage": True}, **options
        )
    chunks = list(stream)
    *content, finish, usage = chunks
    texts = [(c.choices[0].delta.content if chat else c.choices[0].text) or "" for c in content]
    expected = unary.choices[0].message.content if chat else unary.choices[0].text
    assert "".join(texts) == expected
    assert all(c.choices[0].finish_reason is None and c.usage is None for c in content)
    assert finish.choices[0].finish_reason == "length"
    assert usage.choices == []
    assert usage.usage is not None and unary.usage is not None
    assert usage.usage.completion_tokens == 14
    assert usage.usage.prompt_tokens == unary.usage.prompt_tokens
    assert {c.object for c in chunks} == {"chat.completion.chunk" if chat else "text_completion"}
    assert len({c.id for c in chunks}) == 1


def test_raw_stream_is_server_sent_events(genai_server: ServerProcess) -> None:
    body = {"model": LLM, "prompt": PROMPT, "max_tokens": 3, "temperature": 0, "stream": True}
    with httpx.stream(
        "POST", f"http://{genai_server.rest_url}/v3/completions", json=body, timeout=30
    ) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        raw = answer.read().decode()
    events = raw.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(e.startswith("data: {") for e in events[:-2])
    assert "usage" not in json.loads(events[0][len("data: ") :])


def test_max_tokens_honoured(client: openai.OpenAI) -> None:
    for limit in (1, 5):
        answer = client.completions.create(
            model=LLM, prompt=PROMPT, max_tokens=limit, temperature=0, extra_body={"ignore_eos": True}
        )
        assert answer.choices[0].finish_reason == "length"
        assert answer.usage is not None and answer.usage.completion_tokens == limit
    answer = client.chat.completions.create(
        model=LLM, messages=MESSAGES, max_completion_tokens=3, temperature=0, extra_body={"ignore_eos": True}
    )
    assert answer.usage is not None and answer.usage.completion_tokens == 3


def test_stop_string_ends_generation(client: openai.OpenAI) -> None:
    full = client.completions.create(
        model=LLM, prompt=PROMPT, max_tokens=24, temperature=0, extra_body={"ignore_eos": True}
    )
    text = full.choices[0].text
    stop = next(text[i : i + 2] for i in range(4, len(text) - 2) if text.index(text[i : i + 2]) == i)
    answer = client.completions.create(
        model=LLM, prompt=PROMPT, max_tokens=24, temperature=0, stop=[stop], extra_body={"ignore_eos": True}
    )
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].text == text[: text.index(stop)]
    streamed = client.completions.create(
        model=LLM,
        prompt=PROMPT,
        max_tokens=24,
        temperature=0,
        stop=stop,
        stream=True,
        extra_body={"ignore_eos": True},
    )
    chunks = list(streamed)
    kept = "".join(c.choices[0].text for c in chunks)  # streams keep the stop string (OVMS), token by token
    assert kept.startswith(text[: text.index(stop) + len(stop)]) and text.startswith(kept)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_sampling_without_temperature_varies_and_seed_repeats(client: openai.OpenAI) -> None:
    seeded = [
        client.completions.create(
            model=LLM, prompt=PROMPT, max_tokens=16, seed=7, extra_body={"ignore_eos": True}
        )
        .choices[0]
        .text
        for _ in range(2)
    ]
    assert seeded[0] == seeded[1]
    unseeded = {
        client.completions.create(model=LLM, prompt=PROMPT, max_tokens=16, extra_body={"ignore_eos": True})
        .choices[0]
        .text
        for _ in range(4)
    }
    assert len(unseeded) > 1


def test_sixteen_concurrent_streams(
    genai_server: ServerProcess, reference: genai.ContinuousBatchingPipeline
) -> None:
    prompts = [f"{PROMPT} {i}" for i in range(16)]
    expected = [_reference(reference, p, chat=False, tokens=20)[0] for p in prompts]

    async def one(client: openai.AsyncOpenAI, prompt: str) -> tuple[str, str | None, int]:
        stream = await client.completions.create(
            model=LLM,
            prompt=prompt,
            max_tokens=20,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"ignore_eos": True},
        )
        texts, reason, used = [], None, -1
        async for chunk in stream:
            if chunk.choices:
                texts.append(chunk.choices[0].text)
                reason = chunk.choices[0].finish_reason or reason
            if chunk.usage is not None:
                used = chunk.usage.completion_tokens
        return "".join(texts), reason, used

    async def all_streams() -> list[tuple[str, str | None, int]]:
        async with openai.AsyncOpenAI(
            base_url=f"http://{genai_server.rest_url}/v3", api_key="x", max_retries=0
        ) as client:
            return await asyncio.gather(*(one(client, p) for p in prompts))

    results = asyncio.run(all_streams())
    assert [r[0] for r in results] == expected
    assert [(r[1], r[2]) for r in results] == [("length", 20)] * 16


def test_embeddings_equal_in_process(client: openai.OpenAI, models: Path) -> None:
    config = genai.TextEmbeddingPipeline.Config()
    config.pooling_type = genai.TextEmbeddingPipeline.PoolingType.CLS
    config.normalize = True
    pipeline = genai.TextEmbeddingPipeline(str(models.parent / EMBEDDINGS), "CPU", config)
    texts = ["hello world", "The quick brown fox jumps over the lazy dog."]
    # one text per call: the pipeline pads a batch on this tokenizer's side (left), where CLS is a pad
    expected = np.array([pipeline.embed_query(text) for text in texts])
    answer = client.embeddings.create(model=EMBEDDINGS, input=texts)
    assert [d.index for d in answer.data] == [0, 1]
    np.testing.assert_allclose(np.array([d.embedding for d in answer.data]), expected, rtol=1e-4, atol=1e-5)
    tokenizer = genai.Tokenizer(str(models.parent / EMBEDDINGS))
    ids = [tokenizer.encode(t).input_ids.data[0].tolist() for t in texts]
    assert answer.usage.prompt_tokens == sum(len(i) for i in ids)
    single = client.embeddings.create(model=EMBEDDINGS, input=texts[0])
    np.testing.assert_allclose(single.data[0].embedding, expected[0], rtol=1e-4, atol=1e-5)
    by_ids = client.embeddings.create(model=EMBEDDINGS, input=ids)
    np.testing.assert_allclose(np.array([d.embedding for d in by_ids.data]), expected, rtol=1e-4, atol=1e-5)
    one_ids = client.embeddings.create(model=EMBEDDINGS, input=ids[1])
    np.testing.assert_allclose(one_ids.data[0].embedding, expected[1], rtol=1e-4, atol=1e-5)


def test_embeddings_base64(genai_server: ServerProcess) -> None:
    url = f"http://{genai_server.rest_url}/v3/embeddings"
    floats = httpx.post(url, json={"model": EMBEDDINGS, "input": "hello"}, timeout=30).json()
    packed = httpx.post(
        url, json={"model": EMBEDDINGS, "input": "hello", "encoding_format": "base64"}, timeout=30
    ).json()
    decoded = np.frombuffer(base64.b64decode(packed["data"][0]["embedding"]), "<f4")
    np.testing.assert_array_equal(decoded, np.array(floats["data"][0]["embedding"], np.float32))


def test_rerank_equals_in_process(genai_server: ServerProcess, models: Path) -> None:
    documents = ["yes", "The quick brown fox", "no", "Hello world!"]
    config = genai.TextRerankPipeline.Config()
    config.top_n = len(documents)
    pipeline = genai.TextRerankPipeline(str(models.parent / RERANK), "CPU", config)
    expected = sorted(
        ((int(i), float(s)) for i, s in pipeline.rerank("Is it relevant?", documents)), key=lambda p: -p[1]
    )
    body = {
        "model": RERANK,
        "query": "Is it relevant?",
        "documents": documents,
        "top_n": 3,
        "return_documents": True,
    }
    answer = httpx.post(f"http://{genai_server.rest_url}/v3/rerank", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["index"] for r in results] == [i for i, _ in expected[:3]]
    np.testing.assert_allclose(
        [r["relevance_score"] for r in results], [s for _, s in expected[:3]], rtol=1e-5
    )
    assert [r["document"]["text"] for r in results] == [documents[i] for i, _ in expected[:3]]
    plain = httpx.post(
        f"http://{genai_server.rest_url}/v3/rerank",
        json={**body, "top_n": None, "return_documents": False},
        timeout=30,
    )
    assert len(plain.json()["results"]) == 4 and all("document" not in r for r in plain.json()["results"])


@pytest.mark.parametrize(
    ("path", "body", "status", "param", "message"),
    [
        (
            "chat/completions",
            {"model": "missing", "messages": MESSAGES},
            404,
            None,
            "Mediapipe graph definition with requested name is not found",
        ),
        (
            "chat/completions",
            {"model": LLM, "messages": []},
            400,
            "messages",
            "Messages array cannot be empty",
        ),
        (
            "chat/completions",
            {"model": LLM, "messages": MESSAGES, "temperature": 3},
            400,
            "temperature",
            "temperature out of range",
        ),
        (
            "chat/completions",
            {"model": LLM, "messages": MESSAGES, "top_k": 0},
            400,
            "top_k",
            "top_k must be -1",
        ),
        (
            "chat/completions",
            {"model": LLM, "messages": MESSAGES, "tools": [{"type": "function"}]},
            400,
            "tools",
            "tools is not supported",
        ),
        (
            "chat/completions",
            {"model": LLM, "messages": MESSAGES, "n": 2, "stream": True},
            400,
            "n",
            "n cannot be used in streaming mode",
        ),
        (
            "completions",
            {"model": LLM, "prompt": PROMPT, "n": 3, "best_of": 2},
            400,
            "n",
            "n value cannot be greater than best_of",
        ),
        (
            "completions",
            {"model": LLM, "prompt": PROMPT, "best_of": 20},
            400,
            "best_of",
            "best_of exceeds limit provided in graph config: 20",
        ),
        (
            "completions",
            {"model": LLM, "prompt": PROMPT, "n": 10**9},
            400,
            "n",
            "n exceeds limit provided in graph config: 20",
        ),
        (
            "chat/completions",
            {"model": LLM, "messages": MESSAGES, "n": 20},
            400,
            "n",
            "n exceeds limit provided in graph config: 20",
        ),
        (
            "chat/completions",
            {"model": LLM, "messages": MESSAGES, "logprobs": True, "stream": True},
            400,
            "logprobs",
            "logprobs are not supported in streaming mode",
        ),
        (
            "completions",
            {"model": LLM, "prompt": PROMPT, "logprobs": 2},
            400,
            "logprobs",
            "accepted logprobs value is currently 1 only",
        ),
        (
            "chat/completions",
            {"model": LLM, "messages": MESSAGES, "stop": ""},
            400,
            "stop",
            "stop must be a non-empty string",
        ),
        (
            "completions",
            {"model": LLM, "prompt": PROMPT, "max_tokens": 10**12},
            400,
            "max_tokens",
            "max_tokens is not an unsigned integer: out of range [0, 4294967295]",
        ),
        (
            "chat/completions",
            {"model": LLM, "messages": MESSAGES, "stream_options": {"include_usage": True}},
            400,
            "stream_options",
            "stream not set to true",
        ),
        (
            "chat/completions",
            {"model": LLM, "messages": [{"content": "x"}]},
            400,
            "messages[0].role",
            "Every message must have 'role' field",
        ),
        (
            "chat/completions",
            {"model": LLM, "messages": MESSAGES, "max_tokens": -1},
            400,
            "max_tokens",
            "max_tokens is not an unsigned integer",
        ),
        (
            "chat/completions",
            {"model": LLM, "messages": MESSAGES, "stop": ["x"] * 17},
            400,
            "stop",
            "no more than 16",
        ),
        ("completions", {"model": LLM, "prompt": ["a", "b"]}, 400, "prompt", "prompt is not a string"),
        ("completions", {"model": LLM}, 400, "prompt", "prompt is missing"),
        ("completions", {"model": LLM, "prompt": "x" * 3000}, 400, "prompt", "exceeds model max length: 512"),
        (  # the demo tokenizer's IR stops at 8,192 tokens: the real count is unknown, so no number is claimed
            "completions",
            {"model": LLM, "prompt": "The quick brown fox " * 5000},
            400,
            "prompt",
            "at least 8192, the most this model's tokenizer reads; model max length: 512",
        ),
        (
            "completions",
            {"model": LLM, "prompt": PROMPT, "max_tokens": 510},
            400,
            "max_tokens",
            "exceeds model max length: 512",
        ),
        (
            "completions",
            {"model": LLM, "prompt": PROMPT, "seed": 2**32},
            400,
            "seed",
            "seed is not an unsigned integer",
        ),
        (
            "completions",
            {"model": EMBEDDINGS, "prompt": PROMPT},
            400,
            None,
            "serves embeddings, not text_generation",
        ),
        ("completions", {"prompt": PROMPT}, 400, "model", "model field is missing"),
        ("embeddings", {"model": EMBEDDINGS, "input": ["a", 1]}, 400, "input", "input must be homogeneous"),
        (
            "embeddings",
            {"model": EMBEDDINGS, "input": "a", "encoding_format": "int8"},
            400,
            "encoding_format",
            "float or base64",
        ),
        (
            "embeddings",
            {"model": EMBEDDINGS, "input": "a", "dimensions": 8},
            400,
            "dimensions",
            "not supported",
        ),
        (
            "embeddings",
            {"model": EMBEDDINGS, "input": "hello " * 600},
            400,
            "input",
            "longer than allowed 512",
        ),
        ("embeddings", {"model": EMBEDDINGS, "input": [1, 99999]}, 400, "input", "outside the vocabulary"),
        ("rerank", {"model": RERANK, "documents": ["a"]}, 400, "query", "query field is missing"),
        (
            "rerank",
            {"model": RERANK, "query": "q", "documents": [{"text": "a"}]},
            400,
            "documents",
            "document map not supported",
        ),
    ],
)
def test_errors(
    genai_server: ServerProcess,
    path: str,
    body: dict[str, object],
    status: int,
    param: str | None,
    message: str,
) -> None:
    answer = httpx.post(f"http://{genai_server.rest_url}/v3/{path}", json=body, timeout=30)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert message in error["message"]
    assert error["param"] == param


def test_malformed_body_is_400(genai_server: ServerProcess) -> None:
    answer = httpx.post(f"http://{genai_server.rest_url}/v3/completions", content=b"{not json", timeout=30)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("Cannot parse JSON body")


def test_openai_client_reads_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=LLM, messages=MESSAGES, top_p=1.5)
    assert raised.value.param == "top_p"
    assert "top_p out of range" in raised.value.message
    with pytest.raises(openai.NotFoundError) as missing:
        client.completions.create(model="missing", prompt=PROMPT)
    assert missing.value.code == "model_not_found"


def _metric(server: ServerProcess, name: str, labels: str) -> float:
    text = httpx.get(f"http://{server.rest_url}/metrics", timeout=30).text
    match = re.search(rf"^{re.escape(name)}{{{re.escape(labels)}}} (\S+)$", text, re.M)
    return 0.0 if match is None else float(match.group(1))


def test_disconnect_mid_stream_stops_generation(genai_server: ServerProcess, client: openai.OpenAI) -> None:
    body = LONG_STREAM
    with httpx.stream(
        "POST", f"http://{genai_server.rest_url}/v3/completions", json=body, timeout=30
    ) as answer:
        lines = answer.iter_lines()
        received = [next(lines) for _ in range(6)]
    assert received[0].startswith("data: ")
    deadline = time.monotonic() + 20
    while "the client disconnected" not in genai_server.log_text():
        assert time.monotonic() < deadline, "the server did not notice the disconnect"
        time.sleep(0.05)
    logged = re.search(r"the client disconnected after (\d+) tokens", genai_server.log_text())
    assert logged is not None and int(logged.group(1)) < 500
    while _metric(genai_server, "ovms_llm_num_requests_running", f'name="{LLM}"') != 0:
        assert time.monotonic() < deadline, "the stopped generation still runs"
        time.sleep(0.05)
    answer2 = client.completions.create(
        model=LLM, prompt=PROMPT, max_tokens=4, temperature=0, extra_body={"ignore_eos": True}
    )
    assert answer2.usage is not None and answer2.usage.completion_tokens == 4


def test_metrics_count_requests_and_tokens(genai_server: ServerProcess, client: openai.OpenAI) -> None:
    labels = f'name="{LLM}"'

    def counts() -> dict[str, float]:
        return {
            "requests": _metric(
                genai_server,
                "ovms_llm_requests_total",
                f'name="{LLM}",endpoint="completions",outcome="success"',
            ),
            "prompt": _metric(genai_server, "ovms_llm_prompt_tokens_total", labels),
            "generated": _metric(genai_server, "ovms_llm_generation_tokens_total", labels),
            "ttft": _metric(genai_server, "ovms_llm_time_to_first_token_seconds_count", labels),
            "tpot": _metric(genai_server, "ovms_llm_time_per_output_token_seconds_count", labels),
            "tpot_sum": _metric(genai_server, "ovms_llm_time_per_output_token_seconds_sum", labels),
        }

    before = counts()
    answer = client.completions.create(
        model=LLM, prompt=PROMPT, max_tokens=7, temperature=0, extra_body={"ignore_eos": True}
    )
    assert answer.usage is not None
    after = counts()
    tpot_sum = after.pop("tpot_sum") - before.pop("tpot_sum")
    assert {k: after[k] - before[k] for k in before} == {
        "requests": 1,
        "prompt": answer.usage.prompt_tokens,
        "generated": 7,
        "ttft": 1,
        "tpot": 6,  # vLLM: one observation per interval between output tokens
    }
    assert tpot_sum > 0  # a unary request's tokens are timed as generated, not as delivered
    idle = ("ovms_llm_num_requests_running", "ovms_llm_num_requests_waiting", "ovms_llm_kv_cache_usage_perc")
    deadline = time.monotonic() + 10
    while any(_metric(genai_server, family, labels) != 0 for family in idle):
        assert time.monotonic() < deadline, [_metric(genai_server, family, labels) for family in idle]
        time.sleep(0.05)
    text = httpx.get(f"http://{genai_server.rest_url}/metrics", timeout=30).text
    for family in idle:
        assert f"{family}{{{labels}}} " in text  # present, and 0 (above)


def test_sigterm_ends_streams_within_shutdown_timeout(models: Path, tmp_path: Path) -> None:
    server = start_server(["--config_path", str(models), "--shutdown_timeout", "0.5"], tmp_path / "ovms.log")
    body = LONG_STREAM
    try:
        with httpx.stream(
            "POST", f"http://{server.rest_url}/v3/completions", json=body, timeout=30
        ) as answer:
            lines = answer.iter_lines()
            next(lines)
            server.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30
            while "Shutting down" not in server.log_text():  # the signal is handled: new requests are refused
                assert time.monotonic() < deadline, "the server did not start shutting down"
                time.sleep(0.02)
            refused = httpx.post(
                f"http://{server.rest_url}/v3/completions", json={**body, "stream": False}, timeout=30
            )
            started = time.monotonic()
            rest = [line for line in lines if line]
        assert time.monotonic() - started < 5
        assert refused.status_code == 503
        assert refused.json()["error"]["type"] == "server_error"
        last = rest[-1]
        assert (
            last == "data: [DONE]" or "shutting down" in json.loads(last[len("data: ") :])["error"]["message"]
        )
        assert server.process.wait(timeout=30) == 0, server.log_text()
    finally:
        if server.process.poll() is None:
            server.process.kill()


def test_single_model_flags_serve_a_folder(models: Path, tmp_path: Path) -> None:
    folder = models.parent / EMBEDDINGS
    server = start_server(
        [
            "--source_model",
            str(folder),
            "--task",
            "embeddings",
            "--model_name",
            "vectors",
            "--pooling",
            "MEAN",
        ],
        tmp_path / "ovms.log",
        command=(sys.executable, "-m", "ovms_cli"),  # OVMS's form: no subcommand
    )
    try:
        listed = httpx.get(f"http://{server.rest_url}/v3/models", timeout=30).json()
        assert [m["id"] for m in listed["data"]] == ["vectors"]
        answer = httpx.post(
            f"http://{server.rest_url}/v3/embeddings", json={"model": "vectors", "input": "hi"}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        config = genai.TextEmbeddingPipeline.Config()
        config.pooling_type = genai.TextEmbeddingPipeline.PoolingType.MEAN
        expected = genai.TextEmbeddingPipeline(str(folder), "CPU", config).embed_query("hi")
        np.testing.assert_allclose(answer.json()["data"][0]["embedding"], expected, rtol=1e-4, atol=1e-5)
    finally:
        assert server.stop() == 0, server.log_text()


def test_a_missing_model_folder_stops_single_model_start(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ovms_cli",
            "--source_model",
            str(tmp_path / "empty"),
            "--task",
            "text_generation",
            "--rest_port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Generative model empty failed to load" in done.stderr


def _served(server: ServerProcess) -> set[str]:
    return {m["id"] for m in httpx.get(f"http://{server.rest_url}/v3/models", timeout=30).json()["data"]}


def test_config_reload_adds_and_removes_generative_models(models: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    root = models.parent

    def write(*names: str) -> None:
        entries = [{"name": n, "base_path": str(root / n)} for n in names]
        config.write_text(json.dumps({"model_config_list": [], "mediapipe_config_list": entries}))

    write(LLM)
    server = start_server(
        ["--config_path", str(config), "--file_system_poll_wait_seconds", "0"], tmp_path / "ovms.log"
    )
    try:
        assert _served(server) == {LLM}
        write(LLM, RERANK)
        assert (
            httpx.post(f"http://{server.rest_url}/v1/config/reload", timeout=60).status_code == 201
        )  # changed
        assert _served(server) == {LLM, RERANK}
        body = {**LONG_STREAM, "max_tokens": 300, "stream_options": {"include_usage": True}}
        with httpx.stream(
            "POST", f"http://{server.rest_url}/v3/completions", json=body, timeout=60
        ) as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith("data: {")
            write(RERANK)  # the stream's model is removed while it generates: the stream still finishes
            assert httpx.post(f"http://{server.rest_url}/v1/config/reload", timeout=60).status_code == 201
            rest = [line for line in lines if line]
        assert rest[-1] == "data: [DONE]"
        assert json.loads(rest[-2][len("data: ") :])["usage"]["completion_tokens"] == 300
        assert _served(server) == {RERANK}
        gone = httpx.post(
            f"http://{server.rest_url}/v3/completions", json={"model": LLM, "prompt": "x"}, timeout=30
        )
        assert gone.status_code == 404
    finally:
        assert server.stop() == 0, server.log_text()


def test_beam_search_with_a_stop_string_kept_in_the_output(client: openai.OpenAI) -> None:
    """Trimming it is refused (400 naming stop): openvino-genai failed the whole step, and every
    stream in it, on this prompt."""
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(model=LLM, prompt="hi", max_tokens=60, temperature=0, n=2, stop=["e"])
    assert refused.value.body is not None and "stop" in str(refused.value.body)
    answer = client.completions.create(
        model=LLM,
        prompt="hi",
        max_tokens=60,
        temperature=0,
        n=2,
        stop=["e"],
        extra_body={"include_stop_str_in_output": True},
    )
    assert len(answer.choices) == 2
