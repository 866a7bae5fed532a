"""The REST request-size limit (``--max_request_size``) as ASGI middleware.

A declared ``Content-Length`` over the limit fails the first read of the body; a chunked body fails
the read that crosses the limit. Either way the endpoint's read raises ``ResourceExhausted``, so
the answer is the usual 413 JSON error, counted and logged like any other failure.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ovms_cli.errors import ResourceExhausted


def too_large(size: int, limit: int) -> ResourceExhausted:
    return ResourceExhausted(
        "Request is too large",
        f"{size} bytes exceed the limit of {limit} bytes set by --max_request_size",
    )


class RequestBodyMiddleware:
    """ASGI middleware that acts on HTTP request bodies held to ``max_bytes`` (None: no bound);
    other scopes pass through."""

    def __init__(self, app: ASGIApp, max_bytes: int | None) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        else:
            await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class BodyLimit(RequestBodyMiddleware):
    max_bytes: int

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app, max_bytes)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _content_length(scope)
        if declared is None:
            await self.app(scope, self._counting(receive), send)
        elif declared > self.max_bytes:
            await self.app(scope, self._refusing(declared), send)
        else:
            await self.app(scope, receive, send)  # the HTTP layer holds the body to its declared length

    def _refusing(self, declared: int) -> Receive:
        async def receive() -> Message:
            raise too_large(declared, self.max_bytes)

        return receive

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise too_large(received, self.max_bytes)
            return message

        return counted


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
