"""The /v3 codec: OVMS's field rules, refusals that name the field, and the response shapes."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import orjson
import pytest

from ovms_cli.errors import InvalidField, InvalidInput, NotReady
from ovms_cli.protocol import openai as codec

CHAT: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _refused(parse: Any, body: dict[str, Any]) -> InvalidField:
    with pytest.raises(InvalidField) as raised:
        parse(body)
    return raised.value


def test_a_request_without_temperature_samples_as_ovms() -> None:
    parsed = codec.parse_chat(CHAT)
    assert parsed.sampling.temperature == 1.0
    assert parsed.sampling.max_tokens is None
    assert parsed.stream is False
    assert parsed.sampling.include_stop_str_in_output is False


def test_null_fields_are_absent() -> None:
    parsed = codec.parse_chat({**CHAT, "temperature": None, "tools": None, "stop": None, "n": None})
    assert parsed.sampling.temperature == 1.0
    assert parsed.sampling.stop == ()


def test_an_unsupported_field_is_refused_by_name() -> None:
    assert (
        _refused(codec.parse_chat, {**CHAT, "response_format": {"type": "json_object"}}).param
        == "response_format"
    )
    assert _refused(codec.parse_completion, {"model": "m", "prompt": "x", "suffix": "y"}).param == "suffix"


def test_streams_keep_stop_strings_and_refuse_dropping_them() -> None:
    assert codec.parse_chat({**CHAT, "stream": True}).sampling.include_stop_str_in_output is True
    error = _refused(codec.parse_chat, {**CHAT, "stream": True, "include_stop_str_in_output": False})
    assert error.param == "include_stop_str_in_output"


def test_stop_strings_with_beam_search_must_stay_in_the_output() -> None:
    """openvino-genai fails the whole engine step trimming a stop string off a beam."""
    beams = {"model": "m", "prompt": "x", "n": 2, "stop": ["e"]}
    error = _refused(codec.parse_completion, beams)
    assert error.param == "stop" and "include_stop_str_in_output" in error.message
    kept = codec.parse_completion({**beams, "include_stop_str_in_output": True}).sampling
    assert (kept.best_of, kept.stop, kept.include_stop_str_in_output) == (2, ("e",), True)
    assert codec.parse_completion({"model": "m", "prompt": "x", "stop": ["e"]}).sampling.stop == ("e",)


def test_include_usage_needs_stream() -> None:
    assert codec.parse_chat({**CHAT, "stream": True, "stream_options": {"include_usage": True}}).include_usage
    assert (
        _refused(codec.parse_chat, {**CHAT, "stream_options": {"include_usage": True}}).param
        == "stream_options"
    )
    error = _refused(codec.parse_chat, {**CHAT, "stream": True, "stream_options": {"other": 1}})
    assert "Properties accepted in stream_options: include_usage" in error.message


def test_max_completion_tokens_overrides_max_tokens() -> None:
    assert codec.parse_chat({**CHAT, "max_tokens": 5, "max_completion_tokens": 9}).sampling.max_tokens == 9
    assert _refused(codec.parse_chat, {**CHAT, "max_completion_tokens": 0}).param == "max_completion_tokens"
    assert (
        _refused(codec.parse_completion, {"model": "m", "prompt": "x", "max_tokens": 0}).param == "max_tokens"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", 2.5, "temperature out of range[0.0, 2.0]"),
        ("temperature", "hot", "temperature is not a valid number"),
        ("top_p", 0, "top_p out of range(0.0, 1.0]"),
        ("min_p", 1.0, "min_p out of range[0.0, 1.0)"),
        ("top_k", -2, "top_k must be -1 (all tokens) or a positive integer"),
        ("frequency_penalty", -2.5, "frequency_penalty out of range[-2.0, 2.0]"),
        ("presence_penalty", True, "presence_penalty is not a valid number"),
        ("repetition_penalty", 0, "repetition_penalty out of range(0.0, inf]"),
        ("seed", -1, "seed is not an unsigned integer"),
        ("max_tokens", 1.5, "max_tokens is not an unsigned integer"),
        ("stop", [""], "stop must be a non-empty string"),
        ("stop", "", "stop must be a non-empty string"),
        ("stop", ["END", ""], "stop must be a non-empty string"),
        ("max_tokens", 10**12, "max_tokens is not an unsigned integer: out of range [0, 4294967295]"),
        ("max_completion_tokens", 2**32, "max_completion_tokens is not an unsigned integer: out of range"),
        ("ignore_eos", "yes", "ignore_eos accepts values true or false"),
        ("best_of", 0, "best_of value should be greater than 0"),
        ("n", 0, "n value should be greater than 0"),
        ("logprobs", 1, "logprobs accepts values true or false"),
        ("chat_template_kwargs", [], "chat_template_kwargs must be an object"),
    ],
)
def test_field_values_are_checked(field: str, value: Any, message: str) -> None:
    error = _refused(codec.parse_chat, {**CHAT, field: value})
    assert error.param == field
    assert error.message.startswith(message)


def test_sampling_fields_reach_the_core() -> None:
    body = {**CHAT, "temperature": 0, "top_k": -1, "top_p": 0.5, "seed": 3, "stop": "END", "ignore_eos": True}
    sampling = codec.parse_chat(body).sampling
    assert (sampling.temperature, sampling.top_k, sampling.top_p, sampling.seed, sampling.stop) == (
        0.0,
        -1,
        0.5,
        3,
        ("END",),
    )
    assert sampling.ignore_eos is True


def test_messages_rules() -> None:
    parsed = codec.parse_chat(
        {
            "model": "m",
            "messages": [{"role": "system"}, {"role": "user", "content": [{"type": "text", "text": "a"}]}],
        }
    )
    assert parsed.messages == ({"role": "system", "content": ""}, {"role": "user", "content": "a"})
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
    assert _refused(codec.parse_chat, {"model": "m", "messages": [image]}).param == "messages[0].content"
    assert _refused(codec.parse_chat, {"model": "m"}).message == "Messages missing in request"
    tool = {"role": "assistant", "content": "", "tool_calls": [{"id": "1"}]}
    assert _refused(codec.parse_chat, {"model": "m", "messages": [tool]}).param == "messages[0].tool_calls"


def test_add_generation_prompt_comes_out_of_the_template_arguments() -> None:
    parsed = codec.parse_chat({**CHAT, "chat_template_kwargs": {"add_generation_prompt": False, "x": 1}})
    assert (parsed.add_generation_prompt, parsed.chat_kwargs) == (False, {"x": 1})


def test_body_and_model_checks() -> None:
    with pytest.raises(InvalidInput, match="Cannot parse JSON body"):
        codec.parse_json(b"{")
    with pytest.raises(InvalidInput, match="JSON body must be an object"):
        codec.parse_json(b"[]")
    assert _refused(codec.parse_json, b'{"model": 1}').param == "model"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "texts", "ids"),
    [
        ("a", ("a",), None),
        (["a", "b"], ("a", "b"), None),
        ([1, 2], None, ((1, 2),)),
        ([[1], [2, 3]], None, ((1,), (2, 3))),
    ],
)
def test_embedding_inputs(value: Any, texts: Any, ids: Any) -> None:
    parsed = codec.parse_embeddings({"model": "m", "input": value})
    assert (parsed.texts, parsed.token_ids, parsed.base64) == (texts, ids, False)


@pytest.mark.parametrize("value", [[], [True], [[1], "a"], [-1], [[]], 5, {"a": 1}, [""]])
def test_bad_embedding_inputs(value: Any) -> None:
    assert _refused(codec.parse_embeddings, {"model": "m", "input": value}).param == "input"


def test_rerank_top_n_is_capped_at_the_documents() -> None:
    parsed = codec.parse_rerank({"model": "m", "query": "q", "documents": ["a", "b"], "top_n": 9})
    assert parsed.top_n == 2
    assert (
        _refused(codec.parse_rerank, {"model": "m", "query": "q", "documents": ["a"], "top_n": 0}).param
        == "top_n"
    )
    answer = orjson.loads(codec.rerank_response(parsed, [(1, 0.9), (0, 0.1)]))
    assert answer == {"results": [{"index": 1, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.1}]}


def test_embeddings_base64_is_little_endian_float32() -> None:
    vectors = np.array([[1.5, -2.0]], np.float32)
    answer = orjson.loads(codec.embeddings_response("m", vectors, 3, as_base64=True))
    packed = base64.b64decode(answer["data"][0]["embedding"])
    assert np.frombuffer(packed, "<f4").tolist() == [1.5, -2.0]
    assert answer["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_error_body_is_openai_s_object() -> None:
    assert orjson.loads(codec.error_body(InvalidField("top_p", "bad"))) == {
        "error": {"message": "bad", "type": "invalid_request_error", "param": "top_p", "code": None}
    }
    assert (
        orjson.loads(codec.error_body(NotReady("Server is shutting down")))["error"]["type"] == "server_error"
    )


def test_stream_events() -> None:
    writer = codec.ChunkWriter(chat=True, model="m", include_usage=True)
    first = orjson.loads(writer.first().removeprefix(b"data: "))
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert first["usage"] is None and first["object"] == "chat.completion.chunk"
    last = orjson.loads(writer.usage(3, 4).removeprefix(b"data: "))
    assert (last["choices"], last["usage"]["total_tokens"]) == ([], 7)
    assert writer.done() == b"data: [DONE]\n\n"
    assert writer.text("x").endswith(b"\n\n")


def test_n_alone_means_as_many_beams() -> None:
    sampling = codec.parse_chat({**CHAT, "n": 3}).sampling
    assert (sampling.n, sampling.best_of) == (3, 3)
    sampling = codec.parse_completion({"model": "m", "prompt": "x", "n": 2, "best_of": 5}).sampling
    assert (sampling.n, sampling.best_of) == (2, 5)
    assert _refused(codec.parse_completion, {"model": "m", "prompt": "x", "n": 3, "best_of": 2}).param == "n"


def test_beams_and_logprobs_do_not_stream() -> None:
    error = _refused(codec.parse_completion, {"model": "m", "prompt": "x", "best_of": 2, "stream": True})
    assert (error.param, error.message) == ("best_of", "best_of cannot be used in streaming mode")
    error = _refused(codec.parse_chat, {**CHAT, "logprobs": True, "stream": True})
    assert (error.param, error.message) == ("logprobs", "logprobs are not supported in streaming mode.")
    assert codec.parse_chat({**CHAT, "n": 1, "best_of": 1, "stream": True}).sampling.best_of == 1


def test_logprobs_chat_bool_completions_one_only() -> None:
    assert codec.parse_chat({**CHAT, "logprobs": True}).sampling.logprobs is True
    assert codec.parse_chat({**CHAT, "logprobs": False}).sampling.logprobs is False
    assert codec.parse_completion({"model": "m", "prompt": "x", "logprobs": 1}).sampling.logprobs is True
    for value in (0, 2, True):
        error = _refused(codec.parse_completion, {"model": "m", "prompt": "x", "logprobs": value})
        assert error.message == "accepted logprobs value is currently 1 only"


def test_choices_carry_logprobs_in_openai_shapes() -> None:
    logprobs = codec.TokenLogProbs(("He", "llo"), (-0.5, -1.25), (b"He", b"llo"))
    choices = [codec.Choice("Hello", "length", logprobs), codec.Choice("Hi", None, logprobs)]
    completion = json.loads(codec.generation_response(False, "m", choices, 3, 4))
    assert [c["index"] for c in completion["choices"]] == [0, 1]
    assert completion["choices"][1]["finish_reason"] == "stop"
    assert completion["choices"][0]["logprobs"] == {
        "tokens": ["He", "llo"],
        "token_logprobs": [-0.5, -1.25],
        "top_logprobs": [{"He": -0.5}, {"llo": -1.25}],
        "text_offset": [0, 2],
    }
    chat = json.loads(codec.generation_response(True, "m", choices[:1], 3, 2))
    assert chat["choices"][0]["logprobs"] == {
        "content": [
            {"token": "He", "logprob": -0.5, "bytes": [72, 101], "top_logprobs": []},
            {"token": "llo", "logprob": -1.25, "bytes": [108, 108, 111], "top_logprobs": []},
        ]
    }
    assert chat["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_logprobs_of_a_character_split_over_tokens_carry_its_bytes() -> None:
    logprobs = codec.TokenLogProbs(
        ("Caf", "\\xc3", "\\xa9", "!"), (-1.0,) * 4, (b"Caf", b"\xc3", b"\xa9", b"!")
    )
    choice = codec.Choice("Café!", "length", logprobs)
    completion = json.loads(codec.generation_response(False, "m", [choice], 1, 4))
    assert completion["choices"][0]["logprobs"]["text_offset"] == [0, 3, 3, 4]
    chat = json.loads(codec.generation_response(True, "m", [choice], 1, 4))
    content = chat["choices"][0]["logprobs"]["content"]
    assert [c["bytes"] for c in content] == [[67, 97, 102], [0xC3], [0xA9], [33]]
    assert bytes(b for c in content for b in c["bytes"]).decode() == "Café!"
    assert content[1]["token"] == "\\xc3"


def test_completion_max_tokens_zero_says_what_is_true() -> None:
    error = _refused(codec.parse_completion, {"model": "m", "prompt": "x", "max_tokens": 0})
    assert (error.param, error.message) == ("max_tokens", "max_tokens value should be greater than 0")
    echo = _refused(codec.parse_completion, {"model": "m", "prompt": "x", "max_tokens": 0, "echo": True})
    assert echo.param == "echo"
