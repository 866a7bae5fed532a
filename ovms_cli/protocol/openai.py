"""The OpenAI-compatible ``/v3`` codec: request bodies to core values, results to response bodies.

Field rules are OVMS's (genai-spec §2-§4), with one difference on purpose: OVMS silently ignores
fields it does not know; here a non-null field this server does not implement is refused with
400 naming it (a value must never be dropped silently). ``null`` means absent, as in OVMS.
Errors are ``InvalidField`` (400, ``param`` = the field) raised at the first bad field.
"""

from __future__ import annotations

import base64
import codecs
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from ovms_cli.errors import InvalidField, InvalidInput, ServingError
from ovms_cli.servables.generative.sampling import Sampling

MAX_STOP_STRINGS = 16
MAX_UINT32 = 2**32 - 1
_COMMON = {
    "model",
    "stream",
    "stream_options",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "length_penalty",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "stop",
    "ignore_eos",
    "include_stop_str_in_output",
    "skip_special_tokens",
    "n",
    "best_of",
    "user",  # an end-user identifier for the client's own records; OpenAI's, not used for generation
}
CHAT_FIELDS = _COMMON | {"messages", "max_completion_tokens", "chat_template_kwargs", "logprobs"}
COMPLETION_FIELDS = _COMMON | {"prompt", "echo", "logprobs"}
EMBEDDING_FIELDS = {"model", "input", "encoding_format", "user"}
RERANK_FIELDS = {"model", "query", "documents", "top_n", "return_documents"}
MESSAGE_FIELDS = {"role", "content", "name"}


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A chat or completions request. ``messages`` (chat) or ``prompt`` (completions) is set."""

    model: str
    sampling: Sampling
    stream: bool = False
    include_usage: bool = False
    skip_special_tokens: bool = True
    messages: tuple[dict[str, str], ...] = ()
    chat_kwargs: dict[str, Any] = field(default_factory=dict)
    add_generation_prompt: bool = True
    prompt: str | None = None


@dataclass(frozen=True, slots=True)
class EmbeddingsRequest:
    model: str
    texts: tuple[str, ...] | None
    token_ids: tuple[tuple[int, ...], ...] | None
    base64: bool


@dataclass(frozen=True, slots=True)
class RerankRequest:
    model: str
    query: str
    documents: tuple[str, ...]
    top_n: int
    return_documents: bool


def parse_json(body: bytes) -> dict[str, Any]:
    """The request object; ``model`` must be a string. Raises InvalidInput / InvalidField."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput("Cannot parse JSON body", str(error)) from error
    if not isinstance(document, dict):
        raise InvalidInput("JSON body must be an object")
    model = document.get("model")
    if model is None:
        raise InvalidField("model", "model field is missing in JSON body")
    if not isinstance(model, str):
        raise InvalidField("model", "model field is not a string")
    return document


def _present(body: Mapping[str, Any], allowed: set[str]) -> dict[str, Any]:
    """The non-null fields; a non-null field outside ``allowed`` is refused."""
    fields = {k: v for k, v in body.items() if v is not None}
    for name in fields:
        if name not in allowed:
            raise InvalidField(name, f"{name} is not supported by this server")
    return fields


def _bool(fields: dict[str, Any], name: str, default: bool) -> bool:
    value = fields.get(name, default)
    if not isinstance(value, bool):
        raise InvalidField(name, f"{name} accepts values true or false")
    return value


def _number(
    fields: dict[str, Any],
    name: str,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidField(name, f"{name} is not a valid number")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise InvalidField(name, f"{name} out of range{left}{low}, {high}{right}")
    return float(value)


def _unsigned(fields: dict[str, Any], name: str, maximum: int = MAX_UINT32) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField(name, f"{name} is not an unsigned integer")
    if not 0 <= value <= maximum:  # OVMS reads these fields as uint32 (genai-spec §2.1)
        raise InvalidField(name, f"{name} is not an unsigned integer: out of range [0, {maximum}]")
    return value


def _beams(fields: dict[str, Any], stream: bool) -> tuple[int, int]:
    """(n, best_of), genai-spec §2.1/§2.5: n > 1 needs best_of >= n and means beam search; neither
    streams. best_of left out is n: OpenAI's chat API has no best_of, so a client asking for n
    choices sends n alone (the client wins; OVMS would refuse it as n > best_of = 1)."""
    n = _unsigned(fields, "n")
    if n == 0:
        raise InvalidField("n", "n value should be greater than 0")
    best_of = _unsigned(fields, "best_of")
    if best_of == 0:
        raise InvalidField("best_of", "best_of value should be greater than 0")
    n = n or 1
    best_of = best_of or n
    if stream and best_of > 1:
        name = "best_of" if "best_of" in fields else "n"
        raise InvalidField(name, f"{name} cannot be used in streaming mode")
    if n > best_of:
        raise InvalidField("n", "n value cannot be greater than best_of")
    return n, best_of


def _logprobs(fields: dict[str, Any], stream: bool, chat: bool) -> bool:
    """Chat: a bool; completions: the int 1 only (genai-spec §2.2, §2.3); neither streams."""
    value = fields.get("logprobs")
    if value is None or value is False:
        return False
    if chat and value is not True:
        raise InvalidField("logprobs", "logprobs accepts values true or false")
    if not chat and (isinstance(value, bool) or value != 1):
        raise InvalidField("logprobs", "accepted logprobs value is currently 1 only")
    if stream:
        raise InvalidField("logprobs", "logprobs are not supported in streaming mode.")
    return True


def _sampling(fields: dict[str, Any], stream: bool, max_tokens: int | None, chat: bool) -> Sampling:
    top_k = fields.get("top_k")
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, int) or (top_k < 1 and top_k != -1)
    ):
        raise InvalidField("top_k", "top_k must be -1 (all tokens) or a positive integer")
    temperature = _number(fields, "temperature", 0.0, 2.0)
    include_stop = _bool(fields, "include_stop_str_in_output", stream)
    if stream and not include_stop:
        raise InvalidField(
            "include_stop_str_in_output",
            "include_stop_str_in_output cannot be set to false if streaming is used",
        )
    n, best_of = _beams(fields, stream)
    stop = _stop(fields.get("stop"))
    if stop and best_of > 1 and not include_stop:
        # openvino-genai 2026.4 fails the whole engine step trimming a stop string off a beam
        # ("Cannot remove more tokens than has been generated"), and every generation in it with it
        raise InvalidField(
            "stop",
            "stop with beam search (n or best_of > 1) needs include_stop_str_in_output: true "
            "(OpenVINO GenAI cannot remove a stop string from beams)",
        )
    return Sampling(
        n=n,
        best_of=best_of,
        best_of_sent="best_of" in fields,
        logprobs=_logprobs(fields, stream, chat),
        max_tokens=max_tokens,
        temperature=1.0 if temperature is None else temperature,
        top_p=_number(fields, "top_p", 0.0, 1.0, low_open=True),
        top_k=top_k,
        min_p=_number(fields, "min_p", 0.0, 1.0, high_open=True),
        repetition_penalty=_number(fields, "repetition_penalty", 0.0, float("inf"), low_open=True),
        length_penalty=_number(fields, "length_penalty", float("-inf"), float("inf")),
        frequency_penalty=_number(fields, "frequency_penalty", -2.0, 2.0),
        presence_penalty=_number(fields, "presence_penalty", -2.0, 2.0),
        stop=stop,
        seed=_unsigned(fields, "seed"),
        ignore_eos=_bool(fields, "ignore_eos", False) if "ignore_eos" in fields else None,
        include_stop_str_in_output=include_stop,
    )


def _stop(value: Any) -> tuple[str, ...]:
    """An empty stop string is refused on every path, alone or in an array: GenAI would get a stop
    string that matches nothing (or everything), and ignoring it would drop what the client sent."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise InvalidField("stop", "stop must be a non-empty string or an array of non-empty strings")
    if len(value) > MAX_STOP_STRINGS:
        raise InvalidField("stop", f"stop array must have no more than {MAX_STOP_STRINGS} strings")
    return tuple(value)


def _stream(fields: dict[str, Any]) -> tuple[bool, bool]:
    stream = _bool(fields, "stream", False)
    options = fields.get("stream_options")
    if options is None:
        return stream, False
    if not stream:
        raise InvalidField("stream_options", "stream_options provided, but stream not set to true")
    if not isinstance(options, dict) or set(options) - {"include_usage"}:
        raise InvalidField(
            "stream_options",
            "Found unexpected stream options. Properties accepted in stream_options: include_usage",
        )
    return stream, _bool(options, "include_usage", False) if "include_usage" in options else False


def parse_chat(body: dict[str, Any]) -> GenerationRequest:
    fields = _present(body, CHAT_FIELDS)
    max_tokens = _unsigned(fields, "max_tokens")
    completion_tokens = _unsigned(fields, "max_completion_tokens")
    if completion_tokens is not None:
        if completion_tokens == 0:
            raise InvalidField("max_completion_tokens", "max_tokens value should be greater than 0")
        max_tokens = completion_tokens
    elif max_tokens == 0:
        raise InvalidField("max_tokens", "max_tokens value should be greater than 0")
    kwargs = fields.get("chat_template_kwargs", {})
    if not isinstance(kwargs, dict):
        raise InvalidField("chat_template_kwargs", "chat_template_kwargs must be an object")
    kwargs = dict(kwargs)
    add_generation_prompt = kwargs.pop("add_generation_prompt", True)
    if not isinstance(add_generation_prompt, bool):
        raise InvalidField("chat_template_kwargs", "add_generation_prompt accepts values true or false")
    return _generation_request(
        body["model"],
        fields,
        max_tokens,
        messages=_messages(fields.get("messages")),
        chat_kwargs=kwargs,
        add_generation_prompt=add_generation_prompt,
    )


def _messages(value: Any) -> tuple[dict[str, str], ...]:
    if value is None:
        raise InvalidField("messages", "Messages missing in request")
    if not isinstance(value, list):
        raise InvalidField("messages", "messages must be an array")
    if not value:
        raise InvalidField("messages", "Messages array cannot be empty")
    return tuple(_message(i, m) for i, m in enumerate(value))


def _message(index: int, message: Any) -> dict[str, str]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise InvalidField(where, f"{where} must be an object")
    role = message.get("role")
    if role is None:
        raise InvalidField(f"{where}.role", "Every message must have 'role' field")
    if not isinstance(role, str):
        raise InvalidField(f"{where}.role", f"{where}.role must be a string")
    for name, value in message.items():
        if value is not None and name not in MESSAGE_FIELDS:
            raise InvalidField(f"{where}.{name}", f"{where}.{name} is not supported by this server")
    rendered = {"role": role, "content": _content(message.get("content"), where)}
    name = message.get("name")
    if name is not None:
        if not isinstance(name, str):
            raise InvalidField(f"{where}.name", f"{where}.name must be a string")
        rendered["name"] = name
    return rendered


def _content(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidField(f"{where}.content", f"{where}.content must be a string or an array of parts")
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InvalidField(
                f"{where}.content", "only text content parts are supported (no image or audio models)"
            )
        texts.append(part["text"])
    return "\n".join(texts)


def parse_completion(body: dict[str, Any]) -> GenerationRequest:
    fields = _present(body, COMPLETION_FIELDS)
    if _bool(fields, "echo", False):
        raise InvalidField("echo", "echo is not supported by this server")
    max_tokens = _unsigned(fields, "max_tokens")
    if max_tokens == 0:
        # OVMS adds "unless echo is set"; echo is refused here, so 0 never is allowed
        raise InvalidField("max_tokens", "max_tokens value should be greater than 0")
    prompt = fields.get("prompt")
    if prompt is None or prompt == "":
        raise InvalidField("prompt", "prompt is missing")
    if not isinstance(prompt, str):
        raise InvalidField("prompt", "prompt is not a string")
    return _generation_request(body["model"], fields, max_tokens, prompt=prompt)


def _generation_request(
    model: str, fields: dict[str, Any], max_tokens: int | None, **specific: Any
) -> GenerationRequest:
    """The fields chat and completions share, and what only one of them has (``specific``)."""
    stream, include_usage = _stream(fields)
    return GenerationRequest(
        model=model,
        sampling=_sampling(fields, stream, max_tokens, chat="messages" in specific),
        stream=stream,
        include_usage=include_usage,
        skip_special_tokens=_bool(fields, "skip_special_tokens", True),
        **specific,
    )


def parse_embeddings(body: dict[str, Any]) -> EmbeddingsRequest:
    fields = _present(body, EMBEDDING_FIELDS)
    value = fields.get("input")
    if value is None:
        raise InvalidField("input", "input field is required")
    encoding = fields.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise InvalidField("encoding_format", "encoding_format must be float or base64")
    texts: tuple[str, ...] | None = None
    ids: tuple[tuple[int, ...], ...] | None = None
    if isinstance(value, str):
        texts = (value,)
    elif isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            texts = tuple(value)
        elif all(_token(v) for v in value):
            ids = (tuple(value),)
        elif all(isinstance(v, list) and v and all(_token(t) for t in v) for v in value):
            ids = tuple(tuple(v) for v in value)
        else:
            raise InvalidField(
                "input", "input must be homogeneous: strings, token ids or arrays of token ids"
            )
    else:
        raise InvalidField("input", "input must be a string or a non-empty array")
    if texts is not None and not all(texts):
        raise InvalidField("input", "input strings must not be empty")
    return EmbeddingsRequest(body["model"], texts, ids, encoding == "base64")


def _token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_rerank(body: dict[str, Any]) -> RerankRequest:
    fields = _present(body, RERANK_FIELDS)
    query = fields.get("query")
    if query is None:
        raise InvalidField("query", "query field is missing in request")
    if not isinstance(query, str):
        raise InvalidField("query", "query must be a string")
    documents = fields.get("documents")
    if not isinstance(documents, list) or not documents:
        raise InvalidField("documents", "documents must be a non-empty array of strings")
    if not all(isinstance(d, str) for d in documents):
        raise InvalidField("documents", "document map not supported: documents must be strings")
    top_n = _unsigned(fields, "top_n")
    if top_n == 0:
        raise InvalidField("top_n", "top_n must be at least 1")
    return RerankRequest(
        body["model"],
        query,
        tuple(documents),
        len(documents) if top_n is None else min(top_n, len(documents)),
        _bool(fields, "return_documents", False),
    )


# Responses ---------------------------------------------------------------------------------------


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def response_id(chat: bool) -> str:
    return ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class TokenLogProbs:
    """Each generated token's text (decoded alone), natural-log probability and bytes, in order
    (``detokenizer.token_pieces``: a part of a character is its raw bytes, its text escaped)."""

    tokens: tuple[str, ...]
    log_probs: tuple[float, ...]
    token_bytes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Choice:
    """One returned sequence: its text, why it ended, and its log probabilities if asked for."""

    text: str
    finish_reason: str | None
    logprobs: TokenLogProbs | None = None


def _chat_logprobs(logprobs: TokenLogProbs) -> dict[str, Any]:
    """``{"content": [{"token", "logprob", "bytes", "top_logprobs": []}]}`` (genai-spec §2.6)."""
    return {
        "content": [
            {"token": token, "logprob": value, "bytes": list(raw), "top_logprobs": []}
            for token, value, raw in zip(
                logprobs.tokens, logprobs.log_probs, logprobs.token_bytes, strict=True
            )
        ]
    }


def _completion_logprobs(logprobs: TokenLogProbs) -> dict[str, Any]:
    """``{"tokens", "token_logprobs", "top_logprobs": [{token: logprob}], "text_offset"}`` (genai-spec
    §2.6); ``text_offset``: where each token starts in the choice's text, in characters (a token that
    ends a character split over several counts it; bytes that make no character count nothing)."""
    offsets, offset = [], 0
    characters = codecs.getincrementaldecoder("utf-8")("ignore")  # as OpenVINO's detokenizer drops them
    for raw in logprobs.token_bytes:
        offsets.append(offset)
        offset += len(characters.decode(raw))
    return {
        "tokens": list(logprobs.tokens),
        "token_logprobs": list(logprobs.log_probs),
        "top_logprobs": [{t: v} for t, v in zip(logprobs.tokens, logprobs.log_probs, strict=True)],
        "text_offset": offsets,
    }


def _choice(chat: bool, index: int, choice: Choice) -> dict[str, Any]:
    reason = choice.finish_reason or "stop"
    if chat:
        logprobs = None if choice.logprobs is None else _chat_logprobs(choice.logprobs)
        return {
            "finish_reason": reason,
            "index": index,
            "logprobs": logprobs,
            "message": {"content": choice.text, "role": "assistant", "tool_calls": []},
        }
    logprobs = None if choice.logprobs is None else _completion_logprobs(choice.logprobs)
    return {"finish_reason": reason, "index": index, "logprobs": logprobs, "text": choice.text}


def generation_response(
    chat: bool, model: str, choices: Sequence[Choice], prompt_tokens: int, completion_tokens: int
) -> bytes:
    """``chat.completion`` or ``text_completion`` (genai-spec §2.6), plus OpenAI's ``id``; one choice per
    returned sequence, indexed in order (best score first); ``completion_tokens`` counts them all."""
    return orjson.dumps(
        {
            "id": response_id(chat),
            "choices": [_choice(chat, index, choice) for index, choice in enumerate(choices)],
            "created": int(time.time()),
            "model": model,
            "object": "chat.completion" if chat else "text_completion",
            "usage": _usage(prompt_tokens, completion_tokens),
        }
    )


class ChunkWriter:
    """Server-sent events of one stream: ``data: {json}\\n\\n`` ... ``data: [DONE]\\n\\n`` (genai-spec §2.7).

    Completions chunks say ``text_completion`` as OpenAI does (OVMS says ``text_completion.chunk``).
    """

    def __init__(self, chat: bool, model: str, include_usage: bool) -> None:
        self._chat = chat
        self._head = {
            "id": response_id(chat),
            "created": int(time.time()),
            "model": model,
            "object": "chat.completion.chunk" if chat else "text_completion",
        }
        self._include_usage = include_usage

    def _event(self, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        document: dict[str, Any] = {**self._head, "choices": choices}
        if self._include_usage:
            document["usage"] = usage
        return b"data: " + orjson.dumps(document) + b"\n\n"

    def _choice(self, text: str | None, finish_reason: str | None, role: bool = False) -> dict[str, Any]:
        if self._chat:
            delta: dict[str, Any] = {"role": "assistant"} if role else {}
            if text is not None:
                delta["content"] = text
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}

    def first(self) -> bytes:
        return self._event([self._choice("", None, role=True)])

    def text(self, text: str) -> bytes:
        return self._event([self._choice(text, None)])

    def finish(self, finish_reason: str | None) -> bytes:
        return self._event([self._choice(None if self._chat else "", finish_reason or "stop")])

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        return self._event([], _usage(prompt_tokens, completion_tokens))

    @staticmethod
    def done() -> bytes:
        return b"data: [DONE]\n\n"

    @staticmethod
    def error(error: ServingError) -> bytes:
        """An error after the first chunk: the error object as the last event, no ``[DONE]``."""
        return b"data: " + error_body(error) + b"\n\n"


def embeddings_response(model: str, vectors: np.ndarray, tokens: int, as_base64: bool) -> bytes:
    data = [
        {
            "object": "embedding",
            "embedding": base64.b64encode(row.astype("<f4").tobytes()).decode() if as_base64 else row,
            "index": index,
        }
        for index, row in enumerate(vectors)
    ]
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def rerank_response(request: RerankRequest, scored: list[tuple[int, float]]) -> bytes:
    results = []
    for index, score in scored[: request.top_n]:
        result: dict[str, Any] = {"index": index, "relevance_score": score}
        if request.return_documents:
            result["document"] = {"text": request.documents[index]}
        results.append(result)
    return orjson.dumps({"results": results})


def models_response(models: list[tuple[str, int]]) -> bytes:
    return orjson.dumps({"object": "list", "data": [model_entry(n, c) for n, c in models]})


def model_body(name: str, created: int) -> bytes:
    return orjson.dumps(model_entry(name, created))


def model_entry(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "OVMS"}


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
}


def error_body(error: ServingError) -> bytes:
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``.

    OVMS answers a flat ``{"error": "..."}``; the ``openai`` client reads ``message``, ``type``,
    ``param`` and ``code`` from the object, and a script reading ``["error"]`` still finds the text
    under ``["error"]["message"]``: the client wins (the project's rule).
    """
    kind = _ERROR_TYPES.get(
        error.http_status, "server_error" if error.http_status >= 500 else "invalid_request_error"
    )
    code = "model_not_found" if error.http_status == 404 else None
    return orjson.dumps(
        {
            "error": {
                "message": error.message,
                "type": kind,
                "param": getattr(error, "param", None),
                "code": code,
            }
        }
    )
