"""A text-generation model's engine process: it owns the ``ContinuousBatchingPipeline`` and steps it.

    python -m ovms_cli.servables.generative.engine_process --fd N --model NAME

Started by ``engine.ContinuousBatchingEngine`` with one end of a Unix socket pair as fd ``N``
(messages in ``engine_wire``). ``ContinuousBatchingPipeline.step()`` holds the GIL for the whole
step, so in the server's process it stopped the event loop, Hypercorn and the tokenizer for every
step; here it stops nothing but this loop, which does what OVMS's engine thread does (genai-spec
§7.1): add the requests that arrived, stop the ones whose clients left, ``step()`` while requests
are unfinished, and otherwise wait for commands. After each step it turns every request's new
tokens into text, in ONE batched ``Tokenizer.decode`` (``detokenizer.release``, as OVMS's
calculator detokenizes on its own thread: the server's event loop only frames what it gets), and
sends the server ONE ``StepReport`` with every request's progress and the scheduler's metrics.

The server closing its end, or dying (even by SIGKILL: the kernel closes its sockets), is end of
file here: the engine stops and exits, so no engine outlives its server. SIGINT is ignored (a
Ctrl-C in a terminal reaches the whole process group; the server decides how to stop).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import re
import select
import signal
import socket
import sys
import time
from pathlib import Path

import openvino as ov
import openvino_genai as genai

from ovms_cli.servables.generative.detokenizer import (
    IncrementalText,
    VocabularyBytes,
    decode_batch,
    release,
    token_pieces,
)
from ovms_cli.servables.generative.engine_wire import (
    RECEIVE_BYTES,
    Add,
    EngineGone,
    Frames,
    Hello,
    Loaded,
    LoadFailed,
    RequestStep,
    SequenceOutput,
    StepReport,
    Stop,
    config_from_fields,
    detailed,
    frame,
    receive_one,
)
from ovms_cli.servables.generative.graph_config import GenerativeConfig

log = logging.getLogger("ovms.genai.engine")

PR_SET_NAME = 15  # linux/prctl.h: the name ps -o comm and top show (15 bytes)
PROCESS_NAME = b"ovms-genai"

FINISH_REASONS = {
    genai.GenerationFinishReason.NONE: None,
    genai.GenerationFinishReason.STOP: "stop",
    genai.GenerationFinishReason.LENGTH: "length",
    genai.GenerationFinishReason.TOOL_CALL: "tool_calls",
}
_DONE = (
    genai.GenerationStatus.FINISHED,
    genai.GenerationStatus.IGNORED,
    genai.GenerationStatus.STOP,
    genai.GenerationStatus.CANCEL,
)
KV_CACHE_FULL = "the request did not fit in the KV cache"


def build_pipeline(config: GenerativeConfig) -> genai.ContinuousBatchingPipeline:
    """The pipeline of an OVMS LLM folder with the graph's scheduler settings (genai-spec §6.2)."""
    scheduler = genai.SchedulerConfig()
    scheduler.cache_size = config.cache_size
    scheduler.max_num_seqs = config.max_num_seqs
    scheduler.max_num_batched_tokens = config.max_num_batched_tokens
    scheduler.enable_prefix_caching = config.enable_prefix_caching
    scheduler.dynamic_split_fuse = config.dynamic_split_fuse
    return genai.ContinuousBatchingPipeline(
        str(config.models_path), scheduler, config.device, config.plugin_properties
    )


SequenceStep = tuple[int, list[int], list[float] | None, float, str | None]
"""(sequence index, new token ids, their log probabilities or None, score, finish reason): one
``GenerationOutput`` of a step (GenAI's ``generated_ids``, ``generated_log_probs``, ``score``,
``finish_reason``), keyed as ``GenerationHandle.read()`` keys it."""


class _Request:
    """A request GenAI took. A plain one (one sequence, no log probabilities) streams ``text``; a
    detailed one (``returned`` sequences, beam search or log probabilities) collects its sequences
    in ``partial`` and is decoded once, when it finishes."""

    __slots__ = ("handle", "log_probs", "partial", "returned", "skip_special_tokens", "stopped", "text")

    def __init__(self, handle: genai.GenerationHandle, config: genai.GenerationConfig, add: Add) -> None:
        self.handle = handle
        self.log_probs = config.logprobs > 0
        whole = detailed(add.config)
        self.returned = max(1, config.num_return_sequences) if whole else 0
        self.skip_special_tokens = add.skip_special_tokens
        self.text = None if whole else IncrementalText(add.stream, add.skip_special_tokens)
        self.partial: dict[int, SequenceOutput] = {}
        self.stopped = False  # by the server: GenAI then reports it IGNORED, which is no error here

    def merge(self, steps: list[SequenceStep]) -> None:
        """Add a step's outputs to ``partial`` (GenAI's ``read_all``)."""
        for index, ids, log_probs, score, reason in steps:
            sequence = self.partial.get(index)
            if sequence is None:
                sequence = self.partial[index] = SequenceOutput(index)
            sequence.generated_ids += ids
            if log_probs is not None:
                sequence.generated_log_probs += log_probs
            sequence.score = score
            sequence.finish_reason = reason or sequence.finish_reason


class Engine:
    """The step loop over one pipeline; ``run`` returns when the server closes its end."""

    def __init__(self, pipeline: genai.ContinuousBatchingPipeline, sock: socket.socket) -> None:
        self._pipeline = pipeline
        self._tokenizer = pipeline.get_tokenizer()
        self._vocabulary: VocabularyBytes | None = None  # read at the first request for log probabilities
        self._sock = sock
        self._frames = Frames()
        self._requests: dict[int, _Request] = {}
        self._failed: list[RequestStep] = []  # requests GenAI refused, reported with the next step
        self._load = (0, 0, 0.0)
        self._settle = False

    def run(self) -> None:
        try:
            while True:
                busy = self._settle or self._failed or self._pipeline.has_non_finished_requests()
                self._apply(self._receive(wait=not busy))
                if self._pipeline.has_non_finished_requests():
                    self._step()
                    self._settle = True
                elif self._settle:
                    # GenAI drops finished and stopped requests, and frees their KV cache blocks, in
                    # the step after: without it the metrics would show them until the next request
                    self._step()
                    self._settle = False
                self._report()
        except (EngineGone, OSError):  # closed by the server, or the server is gone
            self._stop_all()

    def _receive(self, wait: bool) -> list[object]:
        """Every command that has arrived; when ``wait``, block until one does. EngineGone at EOF."""
        messages: list[object] = []
        timeout = None if wait else 0.0
        while select.select([self._sock], [], [], timeout)[0]:
            data = self._sock.recv(RECEIVE_BYTES)
            if not data:
                raise EngineGone("the server closed the engine")
            messages += self._frames.feed(data)
            timeout = 0.0
        return messages

    def _apply(self, commands: list[object]) -> None:
        for command in commands:
            if isinstance(command, Add):
                self._add(command)
            elif isinstance(command, Stop):
                found = self._requests.get(command.request_id)
                if found is not None:
                    found.stopped = True
                    found.handle.stop()  # the next step frees its KV cache blocks
            else:
                raise TypeError(f"unknown engine command {command!r}")

    def _add(self, command: Add) -> None:
        try:
            config = config_from_fields(command.config)
            handle = self._pipeline.add_request(
                command.request_id, ov.Tensor(command.prompt_ids.reshape(1, -1)), config
            )
        except Exception as error:  # GenAI's own validation of the settings
            self._failed.append(_failure(command.request_id, genai_message(error)))
            return
        self._requests[command.request_id] = _Request(handle, config, command)

    def _step(self) -> None:
        try:
            self._pipeline.step()
        except Exception as error:  # the pipeline's state is unknown: fail what it held
            log.exception("Continuous batching step failed")
            for request_id, request in self._requests.items():
                request.handle.stop()
                self._failed.append(_failure(request_id, f"the engine step failed: {genai_message(error)}"))
            self._requests.clear()

    def _report(self) -> None:
        steps = self._failed
        self._failed = []
        finished: list[int] = []
        plain: list[tuple[int, int, str | None, bool, str | None]] = []
        texts: list[tuple[IncrementalText, list[int], bool]] = []
        for request_id, request in self._requests.items():
            outputs = _read(request)
            status = request.handle.get_status()
            done = status in _DONE
            if not (done or outputs):
                continue
            ignored = done and status is genai.GenerationStatus.IGNORED and not request.stopped
            error = KV_CACHE_FULL if ignored else None
            new = sum(len(ids) for _, ids, _, _, _ in outputs)
            reason = next((why for *_, why in reversed(outputs) if why), None)
            if done:
                finished.append(request_id)
            if request.text is not None:
                texts.append((request.text, [t for _, ids, _, _, _ in outputs for t in ids], done))
                plain.append((request_id, new, reason, done, error))
                continue
            request.merge(outputs)
            returned = self._returned(request) if done and error is None else None
            steps.append((request_id, new, "", reason, done, error, returned))
        for (request_id, new, reason, done, error), text in zip(
            plain, release(self._tokenizer, texts), strict=True
        ):
            steps.append((request_id, new, text, reason, done, error, None))
        for request_id in finished:
            del self._requests[request_id]
        metrics = self._pipeline.get_metrics()
        load = (
            metrics.scheduled_requests,
            max(0, metrics.requests - metrics.scheduled_requests),
            metrics.cache_usage,
        )
        if steps or load != self._load:
            self._load = load
            self._sock.sendall(frame(StepReport(*load, steps, time.perf_counter())))

    def _returned(self, request: _Request) -> list[SequenceOutput]:
        """A detailed request's returned sequences, best score first (as GenAI's ``generate`` ranks
        them), decoded; with log probabilities, each token decoded alone too."""
        ranked = sorted(request.partial.values(), key=lambda s: s.score, reverse=True)[: request.returned]
        if not ranked:
            return []
        skip = request.skip_special_tokens
        texts = decode_batch(self._tokenizer, [s.generated_ids for s in ranked], skip)
        for sequence, text in zip(ranked, texts, strict=True):
            sequence.text = text
        if request.log_probs:
            if self._vocabulary is None:
                self._vocabulary = VocabularyBytes(self._tokenizer)
            for sequence in ranked:
                pieces = token_pieces(self._tokenizer, sequence.generated_ids, skip, self._vocabulary)
                sequence.token_texts = [text for text, _ in pieces]
                sequence.token_bytes = [raw for _, raw in pieces]
        return ranked

    def _stop_all(self) -> None:
        for request in self._requests.values():
            request.handle.stop()
        self._requests.clear()


_SOURCE_PLACE = re.compile(r"\s+at\s+\S+\.(?:hpp|cpp|h|cc):\d+:?\s*")


def genai_message(error: BaseException) -> str:
    """GenAI's message without the C++ build path it names (``failed at /home/.../x.hpp:221:``)."""
    return " ".join(_SOURCE_PLACE.sub(": ", str(error)).split())


def _failure(request_id: int, error: str) -> RequestStep:
    return (request_id, 0, "", None, True, error, None)


def _read(request: _Request) -> list[SequenceStep]:
    """What a request's handle has: per sequence, new ids (and log probabilities if asked)."""
    found: dict[int, SequenceStep] = {}
    handle = request.handle
    while handle.can_read():
        for index, output in handle.read().items():
            reason = FINISH_REASONS.get(output.finish_reason)
            log_probs = list(output.generated_log_probs) if request.log_probs else None
            earlier = found.get(index)
            if earlier is not None:
                ids = earlier[1] + list(output.generated_ids)
                if log_probs is not None and earlier[2] is not None:
                    log_probs = earlier[2] + log_probs
                reason = reason or earlier[4]
            else:
                ids = list(output.generated_ids)
            found[index] = (index, ids, log_probs, float(output.score), reason)
    return list(found.values())


def _name_process() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(PROCESS_NAME), 0, 0, 0)


def _configure_logging(hello: Hello) -> None:
    formatter = logging.Formatter(hello.log_format, datefmt="%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if hello.log_path is not None:
        handlers.append(logging.FileHandler(hello.log_path))
    root = logging.getLogger("ovms")
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(hello.log_level)
    root.propagate = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ovms-genai-engine")
    parser.add_argument("--fd", type=int, required=True, help="this end of the server's socket pair")
    parser.add_argument("--model", required=True, help="the model's name (for ps and the logs)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _name_process()
    sock = socket.socket(fileno=args.fd)
    frames = Frames()
    try:
        hello = receive_one(sock, frames)
    except EngineGone:
        return 0
    assert isinstance(hello, Hello)
    _configure_logging(hello)
    try:
        pipeline = build_pipeline(hello.config)
    except Exception as error:
        sock.sendall(frame(LoadFailed(str(error))))
        return 1
    sock.sendall(frame(Loaded()))
    log.debug("Engine of %s (%s) ready", args.model, Path(hello.config.models_path))
    Engine(pipeline, sock).run()
    log.debug("Engine of %s stopped", args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
