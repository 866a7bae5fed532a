"""Continuous batching in an engine process per text-generation model, read on the event loop.

OVMS runs OpenVINO GenAI's ``ContinuousBatchingPipeline`` with one engine thread that calls
``step()`` while requests are unfinished (genai-spec §7.1). ``step()`` holds the GIL for the whole
step (measured: a 1 ms sleep on another thread took a whole 200 ms step), so in the server's
process the event loop, Hypercorn and the tokenizer could only run between steps, in series with
inference. Here the pipeline lives in its own process (``engine_process``; started with
``subprocess``, i.e. fork+exec of a fresh interpreter, never a fork of a process that runs
OpenVINO threads) and the server talks to it over a Unix socket pair (``engine_wire``):

- ``submit`` sends one ``Add`` and ``stop`` one ``Stop``; the engine adds and stops them between
  steps;
- the engine sends ONE ``StepReport`` per step with every request's new text, detokenized there
  (a batched ``Tokenizer.decode`` is an OpenVINO inference: 0.4-2.3 ms on the server's loop at one
  stream, measured, on the time to first token's path and competing with the engine for the cores);
  the event loop reads the socket with ``loop.add_reader`` (no thread), and the reports that arrived
  together cost one callback that wakes each reader once;
- ``close`` (shutdown, unload, reload) closes the server's end: the engine stops every generation
  and exits (the readers still waiting get ``Cancelled``). The server dying, even by SIGKILL, is
  the same end of file for the engine, so no engine outlives its server.

An engine that dies on its own fails its in-flight generations with a 500 (``InternalError``),
is logged, and is started again; while it restarts its model refuses new generations with 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import site
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import openvino as ov

from ovms_cli.errors import InternalError, NotReady, ServingError
from ovms_cli.logs import FORMAT
from ovms_cli.servables.generative.engine_wire import (
    RECEIVE_BYTES,
    Add,
    EngineGone,
    Frames,
    GenerationFields,
    Hello,
    LoadFailed,
    SequenceOutput,
    StepReport,
    Stop,
    detailed,
    frame,
    receive_one,
)
from ovms_cli.servables.generative.graph_config import GenerativeConfig

log = logging.getLogger("ovms.genai")

ENGINE_MODULE = "ovms_cli.servables.generative.engine_process"
CLOSE_TIMEOUT_S = 30.0
"""Longest ``close`` waits for an engine to exit after its socket closed before it is killed."""


class EngineLoadError(RuntimeError):
    """The engine process could not load the model (the reason is GenAI's message)."""


class Cancelled(ServingError):
    """The server stopped a generation (shutdown, unload); OVMS answers CANCELLED as a 400."""

    http_status = 503


@dataclass(frozen=True, slots=True)
class EngineLoad:
    """The scheduler after the last step: sequences running and waiting, KV cache use in percent."""

    running: int = 0
    waiting: int = 0
    kv_cache_usage: float = 0.0


class Generation:
    """One request's text as it comes, read on the event loop.

    ``texts()`` yields the text as the engine releases it (for a unary request: all of it at the
    end); ``generated`` counts the tokens; afterwards ``finish_reason`` is ``stop``, ``length`` or
    ``tool_calls``. Times are ``time.perf_counter`` seconds.

    A detailed request (several sequences, beam search or log probabilities; never streamed)
    yields no text: once done, ``sequences`` holds its returned sequences, best score first, and
    ``generated`` counts the tokens of all of them.
    """

    __slots__ = (
        "_done",
        "_event",
        "_pending",
        "client_left",
        "detailed",
        "error",
        "finish_reason",
        "first_token_at",
        "generated",
        "last_token_at",
        "request_id",
        "sequences",
        "started_at",
    )

    def __init__(self, request_id: int, detailed: bool = False) -> None:
        self.request_id = request_id
        self.detailed = detailed
        self.sequences: list[SequenceOutput] = []  # set before the last update is delivered
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

    def tokens_at(self, at: float) -> None:
        """New tokens were generated at ``at`` (``time.perf_counter``), whenever they are delivered."""
        if self.first_token_at is None:
            self.first_token_at = at
        self.last_token_at = at

    def receive(self, tokens: int, text: str, finish_reason: str | None, done: bool) -> None:
        if tokens:
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


@dataclass(slots=True)
class _Child:
    """A running engine process and the server's end of its socket (non-blocking once loaded)."""

    process: subprocess.Popen[bytes]
    sock: socket.socket
    frames: Frames = field(default_factory=Frames)


class ContinuousBatchingEngine:
    """A text-generation model's engine process. Construct off the event loop (it waits for the
    model to load; raises ``EngineLoadError``), then ``start(loop, name)`` on the loop."""

    def __init__(
        self,
        config: GenerativeConfig,
        on_step: Callable[[list[Generation]], None] | None = None,
    ) -> None:
        self._config = config
        self._on_step = on_step
        self._generations: dict[int, Generation] = {}
        self._ids = itertools.count()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox = bytearray()
        self._writing = False
        self._restart: asyncio.Task[None] | None = None
        self.load = EngineLoad()
        self._child: _Child | None = _spawn(config)

    @property
    def pid(self) -> int | None:
        """The engine process's id (None while it restarts)."""
        return None if self._child is None else self._child.process.pid

    @property
    def available(self) -> bool:
        """Takes generations: not closed, and its engine process is not restarting (for readiness)."""
        return self._child is not None and not self._closing

    def start(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        self._loop = loop
        assert self._child is not None
        self._watch(self._child)

    def submit(
        self, prompt_ids: ov.Tensor, config: GenerationFields, stream: bool, skip_special_tokens: bool
    ) -> Generation:
        """Queue a request (on the event loop); its text arrives on the returned ``Generation``.

        Raises NotReady while the server shuts down or the engine process restarts."""
        if self._closing:
            raise NotReady("Server is shutting down", "the generation was not started")
        if self._child is None:
            raise NotReady(f"Model {self._config.name} is not available", "its engine process is restarting")
        generation = Generation(next(self._ids), detailed(config))
        ids = np.asarray(prompt_ids.data, dtype=np.int64).reshape(-1)
        self._send(Add(generation.request_id, ids, config, stream, skip_special_tokens))
        self._generations[generation.request_id] = generation
        return generation

    @property
    def idle(self) -> bool:
        """No generation queued or running."""
        return not self._generations

    def stop(self, generation: Generation) -> None:
        """Stop a generation (its client left): the engine frees its KV cache blocks."""
        if generation.done or self._child is None:
            return
        self._send(Stop(generation.request_id))

    def close(self) -> None:
        """End the engine process (from any thread): its generations' readers get ``Cancelled``."""
        self._closing = True
        child = self._child
        if child is None:
            return
        with contextlib.suppress(OSError):
            child.sock.shutdown(socket.SHUT_WR)  # end of file for the engine: it stops and exits
        try:
            child.process.wait(CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("The engine process of %s did not exit; killing it", self._config.name)
            child.process.kill()
            child.process.wait()
        if self._loop is None or self._loop.is_closed():
            child.sock.close()

    # the event loop's side of the socket ---------------------------------------------------------

    def _watch(self, child: _Child) -> None:
        assert self._loop is not None
        self._loop.add_reader(child.sock.fileno(), self._readable, child)

    def _send(self, message: object) -> None:
        self._outbox += frame(message)
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        child = self._child
        if child is None:
            self._outbox.clear()
            return
        try:
            sent = child.sock.send(self._outbox)
        except BlockingIOError:
            sent = 0
        except OSError:  # the engine is gone: its reader's end of file fails the generations
            sent = len(self._outbox)
        del self._outbox[:sent]
        assert self._loop is not None
        if self._outbox and not self._writing:
            self._loop.add_writer(child.sock.fileno(), self._flush)
            self._writing = True
        elif not self._outbox and self._writing:
            self._loop.remove_writer(child.sock.fileno())
            self._writing = False

    def _readable(self, child: _Child) -> None:
        reports: list[object] = []
        ended = False
        try:
            while True:
                data = child.sock.recv(RECEIVE_BYTES)
                if not data:
                    ended = True
                    break
                reports += child.frames.feed(data)
                if len(data) < RECEIVE_BYTES:
                    break
        except BlockingIOError:
            pass
        except OSError:
            ended = True
        if reports:
            self._deliver([r for r in reports if isinstance(r, StepReport)])
        if ended:
            self._gone(child)

    def _deliver(self, reports: list[StepReport]) -> None:
        """Every report that arrived together; each reader is woken once."""
        if not reports:
            return
        last = reports[-1]
        self.load = EngineLoad(last.running, last.waiting, last.kv_cache_usage)
        now = time.perf_counter()
        ended: list[Generation] = []
        for report in reports:
            at = now - (last.at - report.at)  # the engine's clock, read as a difference only
            for request_id, new, text, reason, done, error, returned in report.requests:
                generation = self._generations.get(request_id)
                if generation is None:
                    continue
                if new:
                    generation.tokens_at(at)
                if error is not None:
                    generation.fail(InternalError("Generation failed", error))
                elif returned is not None:
                    generation.sequences = returned
                    generation.receive(sum(len(s.generated_ids) for s in returned), "", reason, done)
                elif not generation.detailed:
                    generation.receive(new, text, reason, done)
                if done:
                    ended.append(generation)
                    del self._generations[request_id]
        if ended and self._on_step is not None:
            self._on_step(ended)

    def _gone(self, child: _Child) -> None:
        """The engine closed its end: it exited after ``close``, or it died."""
        assert self._loop is not None
        self._loop.remove_reader(child.sock.fileno())
        if self._writing:
            self._loop.remove_writer(child.sock.fileno())
            self._writing = False
        self._outbox.clear()
        child.sock.close()
        self._child = None
        self.load = EngineLoad()  # its sequences and KV cache are gone with it
        error: ServingError
        if self._closing:
            error = Cancelled("Generation cancelled", "the server is shutting down")
        else:
            log.error(
                "The engine process (pid %d) of generative model %s exited; %d generations failed; restarting it",
                child.process.pid,
                self._config.name,
                len(self._generations),
            )
            error = InternalError(
                "Generation failed", f"the engine process of model {self._config.name} exited"
            )
            self._restart = self._loop.create_task(self._restarted(child))
        failed = list(self._generations.values())
        self._generations.clear()
        for generation in failed:
            generation.fail(error)
        if failed and self._on_step is not None:
            self._on_step(failed)

    async def _restarted(self, dead: _Child) -> None:
        code = await asyncio.to_thread(dead.process.wait)
        log.error("The engine process of %s exited with code %d", self._config.name, code)
        try:
            child = await asyncio.to_thread(_spawn, self._config)
        except EngineLoadError as error:
            log.error(
                "The engine of generative model %s could not be restarted: %s", self._config.name, error
            )
            return
        if self._closing:
            child.sock.close()
            await asyncio.to_thread(child.process.wait)
            return
        self._child = child
        self._watch(child)
        log.info("The engine process of %s was restarted (pid %d)", self._config.name, child.process.pid)


def _spawn(config: GenerativeConfig) -> _Child:
    """Start an engine process for ``config`` and wait until it has loaded the model.

    Raises EngineLoadError with GenAI's reason, or the exit code if the process died loading."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with theirs:
        process = subprocess.Popen(
            [sys.executable, "-m", ENGINE_MODULE, "--fd", str(theirs.fileno()), "--model", config.name],
            pass_fds=(theirs.fileno(),),
            env=_environment(),
        )
    frames = Frames()
    try:
        ours.sendall(frame(Hello(config, *_log_settings())))
        reply = receive_one(ours, frames)
    except (EngineGone, OSError) as error:
        ours.close()
        code = process.wait()
        raise EngineLoadError(f"the engine process exited with code {code} while loading") from error
    if isinstance(reply, LoadFailed):
        ours.close()
        process.wait()
        raise EngineLoadError(reply.reason)
    ours.setblocking(False)
    return _Child(process, ours, frames)


def _environment() -> dict[str, str]:
    """This environment; with the source tree ovms_cli runs from first on PYTHONPATH unless it is
    an installed package's site directory (which the child finds anyway, after the standard library)."""
    source = Path(__file__).resolve().parents[3]
    sites = {Path(p).resolve() for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if source in sites:
        return dict(os.environ)
    paths = [str(source), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _log_settings() -> tuple[int, str, str | None]:
    """The server's "ovms" logger: level, format (FORMAT unless it was changed) and log file."""
    root = logging.getLogger("ovms")
    form, path = FORMAT, None
    for handler in root.handlers:
        if handler.formatter is not None and handler.formatter._fmt:
            form = handler.formatter._fmt
        if isinstance(handler, logging.FileHandler):
            path = handler.baseFilename
    return root.getEffectiveLevel(), form, path
