"""What the server and a model's engine process say to each other over their Unix socket pair.

Every message is one pickle behind a 4-byte little-endian length. Both ends are this package's own
code (the child is started by the server with ``engine_process``), so the pickles are trusted.

Server → engine: the first message is ``Hello``; then ``Add`` and ``Stop`` commands. The server
closing its end (or exiting, even by SIGKILL) is the engine's signal to stop every generation and
exit.

Engine → server: ``Loaded`` (or ``LoadFailed``) once, then one ``StepReport`` per step that changed
something: every request's progress in that step (its new text, already detokenized by the engine),
and the scheduler's state after it.
"""

from __future__ import annotations

import pickle
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openvino_genai as genai

from ovms_cli.servables.generative.graph_config import GenerativeConfig

HEADER = struct.Struct("<I")
RECEIVE_BYTES = 1 << 16
"""One ``recv``'s buffer: CPython allocates all of it per call (1 MiB: 31 us per message, 64 KiB: 5 us,
measured); a longer message just takes several."""


class EngineGone(ConnectionError):
    """The other end closed the socket (exited, or closed the engine)."""


@dataclass(frozen=True, slots=True)
class Hello:
    """The model to load, and how to log: the server's level, format and log file (None: stdout)."""

    config: GenerativeConfig
    log_level: int
    log_format: str
    log_path: str | None


@dataclass(frozen=True, slots=True)
class Loaded:
    pass


@dataclass(frozen=True, slots=True)
class LoadFailed:
    reason: str


GenerationFields = dict[str, Any]
"""A request's ``GenerationConfig`` as the settings that differ from GenAI's defaults, by property name
(``GenerationConfig`` does not pickle; building one through pybind costs 0.13-0.18 ms a request on the
server, traced)."""


@dataclass(frozen=True, slots=True)
class Add:
    """``prompt_ids``: ``i64[tokens]``; ``config``: its ``GenerationFields``;
    ``stream``: release text as it is generated (else all of it when finished);
    ``skip_special_tokens``: as ``Tokenizer.decode``'s."""

    request_id: int
    prompt_ids: np.ndarray[Any, np.dtype[np.int64]]
    config: GenerationFields
    stream: bool = False
    skip_special_tokens: bool = True


@dataclass(frozen=True, slots=True)
class Stop:
    request_id: int


@dataclass(slots=True)
class SequenceOutput:
    """One returned sequence of a request: GenAI's ``GenerationOutput`` of one sequence index, read whole.

    ``generated_log_probs``: the natural-log probability of each generated token (GenAI fills them
    when ``GenerationConfig.logprobs`` > 0); ``score``: the sequence's cumulative log probability
    (beam search ranks by it); ``text``: the decoded ids; ``token_texts`` and ``token_bytes``: each
    token's text and bytes (``detokenizer.token_pieces``, for OpenAI's logprobs), empty unless log
    probabilities were asked for.
    """

    index: int
    generated_ids: list[int] = field(default_factory=list)
    generated_log_probs: list[float] = field(default_factory=list)
    score: float = 0.0
    finish_reason: str | None = None
    text: str = ""
    token_texts: list[str] = field(default_factory=list)
    token_bytes: list[bytes] = field(default_factory=list)


RequestStep = tuple[int, int, str, str | None, bool, str | None, list[SequenceOutput] | None]
"""What one step did to one request: (request id, tokens generated in the step by all its sequences,
text released (a plain request's; "" for none), finish reason or None, finished, error or None,
returned sequences (a request with several sequences or log probabilities: once finished, best
score first, decoded; else None))."""


@dataclass(frozen=True, slots=True)
class StepReport:
    """One engine step: ``running``/``waiting`` requests and ``kv_cache_usage`` (percent) after it;
    ``at``: when it ended, by the engine's ``time.perf_counter`` (only differences between reports
    mean anything to the server)."""

    running: int
    waiting: int
    kv_cache_usage: float
    requests: list[RequestStep]
    at: float = 0.0


def frame(message: object) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


class Frames:
    """Reassembles messages from the bytes a stream socket delivers, in whatever pieces."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[object]:
        buffer = self._buffer
        buffer += data
        messages: list[object] = []
        start = 0
        while len(buffer) - start >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, start)
            end = start + HEADER.size + size
            if len(buffer) < end:
                break
            messages.append(pickle.loads(memoryview(buffer)[start + HEADER.size : end]))
            start = end
        del buffer[:start]
        return messages


def receive_one(sock: socket.socket, frames: Frames) -> object:
    """Block until one whole message has arrived. Raises EngineGone at end of file."""
    while True:
        data = sock.recv(RECEIVE_BYTES)
        if not data:
            raise EngineGone("the other end closed the socket")
        messages = frames.feed(data)
        if messages:
            if len(messages) > 1:
                raise ValueError("more than one message where one was expected")
            return messages[0]


_FIELDS = tuple(
    name
    for name in dir(genai.GenerationConfig)
    if isinstance(getattr(genai.GenerationConfig, name), property)
)
_DEFAULTS = genai.GenerationConfig()
_DEFAULT_VALUES = {name: getattr(_DEFAULTS, name) for name in _FIELDS}  # read once, not per request


def config_fields(config: genai.GenerationConfig) -> GenerationFields:
    """The settings of ``config`` that differ from GenAI's defaults."""
    return {name: value for name in _FIELDS if (value := getattr(config, name)) != _DEFAULT_VALUES[name]}


def config_from_fields(fields: GenerationFields) -> genai.GenerationConfig:
    """Raises what ``GenerationConfig``'s setters raise for a value of the wrong type (TypeError)."""
    config = genai.GenerationConfig()
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def detailed(fields: GenerationFields) -> bool:
    """A request returned as whole sequences at the end, not as streamed text: several sequences,
    beam search, or log probabilities (which OVMS does not stream)."""
    return bool(
        fields.get("num_return_sequences", _DEFAULT_VALUES["num_return_sequences"]) > 1
        or fields.get("num_beams", _DEFAULT_VALUES["num_beams"]) > 1
        or fields.get("logprobs", _DEFAULT_VALUES["logprobs"]) > 0
    )
