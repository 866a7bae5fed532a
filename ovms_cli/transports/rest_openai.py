"""The OpenAI-compatible ``/v3`` routes (genai-spec §1): chat/completions, completions, embeddings,
rerank and models, also under ``/v3/v1/``.

Every route goes through ``_tracked``: admission by the server's gate (503 while draining), one
mapping of ``ServingError`` to its HTTP status with OpenAI's error object, one log line. A stream
holds its admission until its last event, so a graceful shutdown waits for it (bounded by
``--shutdown_timeout``, after which the server cancels it). A client that disconnects, mid-stream
or while a unary generation runs, stops its generation and frees its KV cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ovms_cli.errors import ServingError
from ovms_cli.protocol import openai as codec
from ovms_cli.servables.generative.host import GenerativeHost
from ovms_cli.transports.errors import as_serving_error, log_error
from ovms_cli.transports.gate import Gate

if TYPE_CHECKING:
    from ovms_cli.servables.generative.engine import Generation
    from ovms_cli.servables.generative.metrics import GenerativeMetrics
    from ovms_cli.servables.generative.registry import GenerativeServable
    from ovms_cli.servables.generative.text_generation import Prompt, TextGenerationServable

log = logging.getLogger("ovms.serving")
JSON = "application/json"
PREFIXES = ("/v3", "/v3/v1")
T = TypeVar("T")
INLINE_PROMPT_CHARS = 4096
"""A prompt (or chat messages) of up to this many characters is tokenized on the event loop: OpenVINO's
tokenizer takes 0.18-0.25 ms for 80-4,000 characters (measured, one thread), no more than handing it to
a thread and back (0.1 ms idle; 0.7-1.1 ms traced on the time to first token's path while the engine's
threads hold the cores). A longer one goes to a thread, so no request holds the loop for long."""


def error_response(error: ServingError) -> Response:
    return Response(codec.error_body(error), status_code=error.http_status, media_type=JSON)


class EventStream(Response):
    """Server-sent events from ``events``; ``on_disconnect`` runs if the client leaves first."""

    media_type = "text/event-stream"

    def __init__(
        self, events: AsyncIterator[bytes], on_disconnect: Callable[[], None], on_end: Callable[[], None]
    ) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        self._events = events
        self._on_disconnect = on_disconnect
        self._on_end = on_end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = asyncio.create_task(_watch_disconnect(receive, self._on_disconnect))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for event in self._events:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client left (ASGI 2.4 servers raise on send)
            self._on_disconnect()
        finally:
            watcher.cancel()
            await self._events.aclose()  # type: ignore[attr-defined]
            self._on_end()


async def _watch_disconnect(receive: Receive, on_disconnect: Callable[[], None]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            on_disconnect()
            return


class OpenAiRoutes:
    def __init__(self, host: GenerativeHost, gate: Gate, metrics: GenerativeMetrics | None = None) -> None:
        self._host = host
        self._gate = gate
        self.metrics = metrics

    def _resolve(self, name: str, task: str) -> GenerativeServable:
        from ovms_cli.servables.generative.registry import GenerativeModelNotFound, WrongTask

        registry = self._host.registry
        if registry is None:
            raise GenerativeModelNotFound(name)
        servable = registry.resolve(name)
        if servable.task != task:
            raise WrongTask(f"Model {name} serves {servable.task}, not {task}")
        return servable

    def _text_generation(self, name: str) -> TextGenerationServable:
        from ovms_cli.servables.generative.text_generation import TextGenerationServable

        servable = self._resolve(name, "text_generation")
        assert isinstance(servable, TextGenerationServable)
        return servable

    def _tracked(
        self, endpoint: str, handler: Callable[[Request, dict[str, Any]], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        gate = self._gate

        async def tracked(request: Request) -> Response:
            body: dict[str, Any] = {}
            try:
                gate.enter()
            except ServingError as refused:
                log_error(refused, f"REST {request.url.path}")
                return error_response(refused)
            streaming = False
            try:
                body = codec.parse_json(await request.body())
                response = await handler(request, body)
                streaming = isinstance(response, EventStream)
                return response
            except Exception as raised:
                error = as_serving_error(raised)
                log_error(error, f"REST {request.method} {request.url.path}")
                self._count(body, endpoint, False)
                return error_response(error)
            finally:
                if not streaming:
                    gate.leave()

        return tracked

    def _count(self, body: dict[str, Any], endpoint: str, ok: bool) -> None:
        model = body.get("model")
        if (
            self.metrics is not None
            and isinstance(model, str)
            and self._host.registry is not None
            and self._host.registry.has(model)
        ):
            self.metrics.request(model, endpoint, ok)

    # text generation --------------------------------------------------------------------------

    async def chat(self, request: Request, body: dict[str, Any]) -> Response:
        parsed = codec.parse_chat(body)
        servable = self._text_generation(parsed.model)
        size = sum(len(text) for message in parsed.messages for text in message.values())
        prompt = await _tokenized(
            size, servable.chat_prompt, parsed.messages, parsed.add_generation_prompt, parsed.chat_kwargs
        )
        return await self._generate(request, servable, parsed, prompt, "messages", "chat/completions")

    async def completions(self, request: Request, body: dict[str, Any]) -> Response:
        parsed = codec.parse_completion(body)
        servable = self._text_generation(parsed.model)
        assert parsed.prompt is not None
        prompt = await _tokenized(len(parsed.prompt), servable.completion_prompt, parsed.prompt)
        return await self._generate(request, servable, parsed, prompt, "prompt", "completions")

    async def _generate(
        self,
        request: Request,
        servable: TextGenerationServable,
        parsed: codec.GenerationRequest,
        prompt: Prompt,
        field: str,
        endpoint: str,
    ) -> Response:
        config = servable.generation_config(prompt, parsed.sampling, field)
        generation = servable.submit(prompt, config, parsed.stream, parsed.skip_special_tokens)
        chat = endpoint == "chat/completions"
        if parsed.stream:
            writer = codec.ChunkWriter(chat, parsed.model, parsed.include_usage)
            events = self._events(servable, generation, writer, prompt, parsed, endpoint)
            return EventStream(events, lambda: _client_left(servable, generation, endpoint), self._gate.leave)
        left = asyncio.create_task(
            _watch_disconnect(request.receive, lambda: _client_left(servable, generation, endpoint))
        )
        try:
            text = "".join([t async for t in generation.texts()])
        finally:
            left.cancel()
        self._finished(servable, generation, prompt, endpoint)
        content = codec.generation_response(
            chat,
            parsed.model,
            _choices(generation, text, parsed.sampling.logprobs),
            prompt.tokens,
            generation.generated,
        )
        return Response(content, media_type=JSON)

    async def _events(
        self,
        servable: TextGenerationServable,
        generation: Generation,
        writer: codec.ChunkWriter,
        prompt: Prompt,
        parsed: codec.GenerationRequest,
        endpoint: str,
    ) -> AsyncIterator[bytes]:
        try:
            yield writer.first()
            async for text in generation.texts():
                yield writer.text(text)
        except ServingError as error:
            log_error(error, f"REST stream {endpoint}")
            self._count({"model": parsed.model}, endpoint, False)
            yield writer.error(error)
            return
        finally:
            servable.stop(generation)  # a no-op once finished; frees the KV cache if the client left
        if generation.client_left:
            self._count({"model": parsed.model}, endpoint, False)
            return
        self._finished(servable, generation, prompt, endpoint)
        yield writer.finish(generation.finish_reason)
        if parsed.include_usage:
            yield writer.usage(prompt.tokens, generation.generated)
        yield writer.done()

    def _finished(
        self, servable: TextGenerationServable, generation: Generation, prompt: Prompt, endpoint: str
    ) -> None:
        if self.metrics is None:
            return
        name = servable.config.name
        self.metrics.request(name, endpoint, True)
        first, last = generation.first_token_at, generation.last_token_at
        ttft = None if first is None else first - generation.started_at
        per_token = None
        if first is not None and last is not None and last > first and generation.generated > 1:
            per_token = (last - first) / (generation.generated - 1)
        self.metrics.generated(name, prompt.tokens, generation.generated, ttft, per_token)

    # embeddings, rerank, models ---------------------------------------------------------------

    async def embeddings(self, request: Request, body: dict[str, Any]) -> Response:
        from ovms_cli.servables.generative.embeddings import EmbeddingsServable

        parsed = codec.parse_embeddings(body)
        servable = self._resolve(parsed.model, "embeddings")
        assert isinstance(servable, EmbeddingsServable)
        result = await servable.embed(parsed.texts, parsed.token_ids)
        if self.metrics is not None:
            self.metrics.request(parsed.model, "embeddings", True)
            self.metrics.generated(parsed.model, result.tokens, 0, None, None)
        return Response(
            codec.embeddings_response(parsed.model, result.vectors, result.tokens, parsed.base64),
            media_type=JSON,
        )

    async def rerank(self, request: Request, body: dict[str, Any]) -> Response:
        from ovms_cli.servables.generative.rerank import RerankServable

        parsed = codec.parse_rerank(body)
        servable = self._resolve(parsed.model, "rerank")
        assert isinstance(servable, RerankServable)
        scored = await servable.rerank(parsed.query, parsed.documents)
        if self.metrics is not None:
            self.metrics.request(parsed.model, "rerank", True)
        return Response(codec.rerank_response(parsed, scored), media_type=JSON)

    async def models(self, request: Request) -> Response:
        registry = self._host.registry
        return Response(
            codec.models_response([] if registry is None else registry.listing()), media_type=JSON
        )

    async def model(self, request: Request) -> Response:
        from ovms_cli.servables.generative.registry import GenerativeModelNotFound

        name = request.path_params["name"]
        registry = self._host.registry
        for served, created in [] if registry is None else registry.listing():
            if served == name:
                return Response(codec.model_body(served, created), media_type=JSON)
        error = GenerativeModelNotFound(name)
        log_error(error, f"REST {request.url.path}")
        return error_response(error)

    def routes(self) -> list[Route]:
        routes = []
        posts = {
            "/chat/completions": self._tracked("chat/completions", self.chat),
            "/completions": self._tracked("completions", self.completions),
            "/embeddings": self._tracked("embeddings", self.embeddings),
            "/rerank": self._tracked("rerank", self.rerank),
        }
        for prefix in PREFIXES:
            routes += [Route(prefix + path, handler, methods=["POST"]) for path, handler in posts.items()]
            routes += [
                Route(prefix + "/models", self.models, methods=["GET"]),
                Route(prefix + "/models/{name:path}", self.model, methods=["GET"]),
            ]
        return routes


async def _tokenized(size: int, prepare: Callable[..., T], *args: Any) -> T:
    """``prepare(*args)``: on the loop for a prompt of ``size`` <= INLINE_PROMPT_CHARS characters,
    else on a thread."""
    if size <= INLINE_PROMPT_CHARS:
        return prepare(*args)
    return await asyncio.to_thread(prepare, *args)


def _choices(generation: Generation, text: str, logprobs: bool) -> list[codec.Choice]:
    """The response's choices: the streamed ``text``, or every returned sequence of a detailed request."""
    if not generation.sequences:
        return [codec.Choice(text, generation.finish_reason)]
    return [
        codec.Choice(
            sequence.text,
            sequence.finish_reason or generation.finish_reason,
            codec.TokenLogProbs(
                tuple(sequence.token_texts), tuple(sequence.generated_log_probs), tuple(sequence.token_bytes)
            )
            if logprobs
            else None,
        )
        for sequence in generation.sequences
    ]


def _client_left(servable: TextGenerationServable, generation: Generation, endpoint: str) -> None:
    if generation.done:
        return
    generation.client_left = True
    log.info(
        "REST %s: the client disconnected after %d tokens; generation %d stopped",
        endpoint,
        generation.generated,
        generation.request_id,
    )
    servable.stop(generation)
