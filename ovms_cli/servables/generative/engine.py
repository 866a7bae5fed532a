"""Continuous batching driven beside the event loop: one stepping thread per text-generation servable.

OVMS runs OpenVINO GenAI's ``ContinuousBatchingPipeline`` with one engine thread that calls
``step()`` while requests are unfinished and sleeps on a condition otherwise (genai-spec §7.1).
Here the same thread also adds requests and stops handles (so the pipeline is only ever touched
from it), detokenizes the step's new tokens of every request in one call (``detokenizer``), and
hands them to the event loop in ONE ``call_soon_threadsafe``: many concurrent requests share each
step and each step costs the loop one callback, not one per request. ``step()`` holds the GIL, so
the thread then waits for the loop to pass the text on (``CATCH_UP_TIMEOUT_S``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import openvino as ov
import openvino_genai as genai

from ovms_cli.errors import InternalError, NotReady, ServingError
from ovms_cli.servables.generative.detokenizer import IncrementalText, release

log = logging.getLogger("ovms.genai")

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


Update = tuple["Generation", int, str, "str | None", bool, "ServingError | None"]
"""(generation, new tokens, new text, finish reason, finished, error): what one step did to one request."""


CATCH_UP_TIMEOUT_S = 0.05
"""Longest the stepping thread waits for the event loop to hand a step's text to its readers.

``ContinuousBatchingPipeline.step()`` holds the GIL while it runs (measured: a 1 ms sleep on
another thread took a whole 200 ms step), so the event loop can only run between steps. Waiting
until it has woken every reader of a step before starting the next keeps it from falling behind
with many streams; the wait costs nothing the GIL did not already cost."""


class Cancelled(ServingError):
    """The server stopped a generation (shutdown, unload); OVMS answers CANCELLED as a 400."""

    http_status = 503


@dataclass(frozen=True, slots=True)
class EngineLoad:
    """The scheduler after the last step: sequences running and waiting, KV cache use in percent."""

    running: int = 0
    waiting: int = 0
    kv_cache_usage: float = 0.0


@dataclass(slots=True)
class SequenceOutput:
    """One returned sequence of a request: GenAI's ``GenerationOutput`` of one sequence index, read whole.

    ``generated_log_probs``: the natural-log probability of each generated token (GenAI fills them
    when ``GenerationConfig.logprobs`` > 0); ``score``: the sequence's cumulative log probability
    (beam search ranks by it); ``text``: the decoded ids; ``token_texts``: each token decoded alone
    (for OpenAI's logprobs), empty unless log probabilities were asked for.
    """

    index: int
    generated_ids: list[int] = field(default_factory=list)
    generated_log_probs: list[float] = field(default_factory=list)
    score: float = 0.0
    finish_reason: str | None = None
    text: str = ""
    token_texts: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Detail:
    """What a request asks beyond streamed text: ``sequences`` returned (GenAI's
    ``num_return_sequences``) and whether each token's text is needed (``logprobs``)."""

    sequences: int
    token_texts: bool

    @staticmethod
    def of(config: genai.GenerationConfig) -> Detail | None:
        """None for a plain request (one sequence, no log probabilities): text only."""
        if config.num_return_sequences <= 1 and config.num_beams <= 1 and config.logprobs <= 0:
            return None
        return Detail(max(1, config.num_return_sequences), config.logprobs > 0)


class Generation:
    """One request's text as it comes, read on the event loop.

    ``texts()`` yields the text as the detokenizer releases it (for a unary request: all of it at
    the end); ``generated`` counts the tokens; afterwards ``finish_reason`` is ``stop``, ``length``
    or ``tool_calls``. Times are ``time.perf_counter`` seconds.

    A request with a ``Detail`` (several sequences, beam search or log probabilities; never
    streamed) yields no text: once done, ``sequences`` holds its returned sequences, best score
    first, and ``generated`` counts the tokens of all of them.
    """

    __slots__ = (
        "_done",
        "_event",
        "_pending",
        "client_left",
        "detail",
        "error",
        "finish_reason",
        "first_token_at",
        "generated",
        "last_token_at",
        "partial",
        "request_id",
        "sequences",
        "started_at",
        "text_state",
    )

    def __init__(self, request_id: int, text_state: IncrementalText, detail: Detail | None = None) -> None:
        self.request_id = request_id
        self.text_state = text_state  # the stepping thread's
        self.detail = detail
        self.partial: dict[int, SequenceOutput] = {}  # the stepping thread's, for a detailed request
        self.sequences: list[SequenceOutput] = []  # set before the last update is posted
        self._event = asyncio.Event()
        self._pending: list[str] = []
        self._done = False
        self.client_left = False
        self.error: ServingError | None = None
        self.finish_reason: str | None = None
        self.generated = 0
        self.started_at = time.perf_counter()
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None

    @property
    def done(self) -> bool:
        return self._done

    def receive(self, tokens: int, text: str, finish_reason: str | None, done: bool, now: float) -> None:
        if tokens:
            if self.first_token_at is None:
                self.first_token_at = now
            self.last_token_at = now
            self.generated += tokens
        if text:
            self._pending.append(text)
        if done:
            self._done = True
            self.finish_reason = finish_reason or self.finish_reason
        self._event.set()

    def fail(self, error: ServingError) -> None:
        self.error = error
        self._done = True
        self._event.set()

    async def texts(self) -> AsyncIterator[str]:
        while True:
            await self._event.wait()
            self._event.clear()
            if self._pending:
                ready, self._pending = "".join(self._pending), []
                yield ready
            if self._done:
                if self.error is not None:
                    raise self.error
                return


class ContinuousBatchingEngine:
    """A ``ContinuousBatchingPipeline`` and its stepping thread. Start with ``start(loop)``."""

    def __init__(
        self,
        pipeline: genai.ContinuousBatchingPipeline,
        on_step: Callable[[list[Generation]], None] | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._tokenizer = pipeline.get_tokenizer()
        self._on_step = on_step
        self._condition = threading.Condition()
        self._adds: list[tuple[Generation, ov.Tensor, genai.GenerationConfig]] = []
        self._stops: list[int] = []
        self._active: dict[int, tuple[genai.GenerationHandle, Generation]] = {}
        self._ids = itertools.count()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.load = EngineLoad()
        self._caught_up = threading.Event()

    def start(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name=f"genai-{name}", daemon=True)
        self._thread.start()

    def submit(
        self, prompt_ids: ov.Tensor, config: genai.GenerationConfig, stream: bool, skip_special_tokens: bool
    ) -> Generation:
        """Queue a request; its text arrives on the returned ``Generation`` (on this event loop)."""
        detail = Detail.of(config)
        generation = Generation(next(self._ids), IncrementalText(stream, skip_special_tokens), detail)
        with self._condition:
            if self._closing:
                raise NotReady("Server is shutting down", "the generation was not started")
            self._adds.append((generation, prompt_ids, config))
            self._condition.notify()
        return generation

    @property
    def idle(self) -> bool:
        """No generation queued or running."""
        return not self._adds and not self._active

    def stop(self, generation: Generation) -> None:
        """Stop a generation (its client left): the pipeline frees its KV cache blocks."""
        if generation.done:
            return
        with self._condition:
            self._stops.append(generation.request_id)
            self._condition.notify()

    def close(self) -> None:
        """Stop every generation (their readers get ``Cancelled``) and end the thread."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        try:
            while self._cycle():
                pass
        finally:
            self._cancel_all()

    def _cycle(self) -> bool:
        with self._condition:
            while not (self._closing or self._adds or self._stops or self._active):
                self._condition.wait()
            if self._closing:
                return False
            adds, self._adds = self._adds, []
            stops, self._stops = self._stops, []
        for generation, ids, config in adds:
            self._add(generation, ids, config)
        for request_id in stops:
            found = self._active.get(request_id)
            if found is not None:
                found[0].stop()
        if self._pipeline.has_non_finished_requests():
            try:
                self._pipeline.step()
            except Exception as error:  # the pipeline's state is unknown: fail what it held
                log.exception("Continuous batching step failed")
                self._fail_all(InternalError("Generation failed", str(error)))
                return True
        self._collect()
        return True

    def _add(self, generation: Generation, ids: ov.Tensor, config: genai.GenerationConfig) -> None:
        try:
            handle = self._pipeline.add_request(generation.request_id, ids, config)
        except Exception as error:
            self._post([(generation, 0, "", None, True, InternalError("Generation failed", str(error)))])
            return
        self._active[generation.request_id] = (handle, generation)

    def _collect(self) -> None:
        progress: list[tuple[Generation, list[int], str | None, bool, ServingError | None]] = []
        finished: list[int] = []
        for request_id, (handle, generation) in self._active.items():
            ids: list[int] = []
            reason = None
            while handle.can_read():
                for index, output in handle.read().items():
                    ids.extend(output.generated_ids)
                    reason = FINISH_REASONS.get(output.finish_reason) or reason
                    if generation.detail is not None:
                        _merge(generation.partial, index, output)
            status = handle.get_status()
            if status in _DONE:
                finished.append(request_id)
                error = None
                if status is genai.GenerationStatus.IGNORED:
                    error = InternalError("Generation failed", "the request did not fit in the KV cache")
                elif generation.detail is not None:
                    generation.sequences = self._sequences(generation, generation.detail)
                    ids = [token for sequence in generation.sequences for token in sequence.generated_ids]
                progress.append((generation, ids, reason, True, error))
            elif ids and generation.detail is None:
                progress.append((generation, ids, None, False, None))
        for request_id in finished:
            del self._active[request_id]
        texts = release(
            self._tokenizer,
            [(g.text_state, ids if g.detail is None else [], done) for g, ids, _, done, _ in progress],
        )
        updates: list[Update] = [
            (g, len(ids), text, reason, done, error)
            for (g, ids, reason, done, error), text in zip(progress, texts, strict=True)
        ]
        metrics = self._pipeline.get_metrics()
        self.load = EngineLoad(
            metrics.scheduled_requests,
            max(0, metrics.requests - metrics.scheduled_requests),
            metrics.cache_usage,
        )
        if updates:
            self._post(updates)
            self._caught_up.wait(CATCH_UP_TIMEOUT_S)

    def _sequences(self, generation: Generation, detail: Detail) -> list[SequenceOutput]:
        """The returned sequences, best score first (as GenAI's ``generate`` ranks them), decoded."""
        ranked = sorted(generation.partial.values(), key=lambda s: s.score, reverse=True)[: detail.sequences]
        if not ranked:
            return []
        skip = generation.text_state.skip_special_tokens
        texts = self._tokenizer.decode([s.generated_ids for s in ranked], skip_special_tokens=skip)
        for sequence, text in zip(ranked, texts, strict=True):
            sequence.text = str(text)
        if detail.token_texts:
            for sequence in ranked:
                # each token alone, as the text skips (or keeps) special tokens
                pieces = self._tokenizer.decode(
                    [[t] for t in sequence.generated_ids], skip_special_tokens=skip
                )
                sequence.token_texts = [str(p) for p in pieces]
        return ranked

    def _post(self, updates: list[Update]) -> None:
        assert self._loop is not None
        self._caught_up.clear()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody reads any more
            self._loop.call_soon_threadsafe(self._deliver, updates)

    def _deliver(self, updates: list[Update]) -> None:
        now = time.perf_counter()
        ended: list[Generation] = []
        for generation, tokens, text, reason, done, error in updates:
            if error is not None:
                generation.fail(error)
                ended.append(generation)
                continue
            generation.receive(tokens, text, reason, done, now)
            if done:
                ended.append(generation)
        if ended and self._on_step is not None:
            self._on_step(ended)
        assert self._loop is not None
        self._loop.call_soon(self._caught_up.set)  # after the readers this woke have run once

    def _fail_all(self, error: ServingError) -> None:
        updates: list[Update] = [(g, 0, "", None, True, error) for _, g in self._active.values()]
        for handle, _ in self._active.values():
            handle.stop()
        self._active.clear()
        if updates:
            self._post(updates)

    def _cancel_all(self) -> None:
        with self._condition:
            adds, self._adds = self._adds, []
        cancelled = Cancelled("Generation cancelled", "the server is shutting down")
        self._fail_all(cancelled)
        if adds:
            self._post([(g, 0, "", None, True, cancelled) for g, _, _ in adds])
        while self._pipeline.has_non_finished_requests():  # let the stopped handles release their blocks
            self._pipeline.step()


def _merge(partial: dict[int, SequenceOutput], index: int, output: genai.GenerationOutput) -> None:
    """Add one read's output of sequence ``index`` to what was read before (GenAI's ``read_all``)."""
    sequence = partial.get(index)
    if sequence is None:
        sequence = partial[index] = SequenceOutput(index)
    sequence.generated_ids.extend(output.generated_ids)
    sequence.generated_log_probs.extend(output.generated_log_probs)
    sequence.score = output.score
    sequence.finish_reason = FINISH_REASONS.get(output.finish_reason) or sequence.finish_reason
