"""API keys (OVMS's ``--api_key_file``, else the ``API_KEY`` environment variable).

With a key set, every REST and gRPC call needs ``Authorization: Bearer KEY`` (gRPC metadata
``authorization``) except the probes: ``/v2/health/live``, ``/v2/health/ready``, KServe gRPC
``ServerLive``/``ServerReady``, and ``/metrics`` (a Prometheus scrape such as the chart's
ServiceMonitor carries no credentials). CORS preflights are answered before this check (rest.py
orders the middleware). A refusal is ``Unauthenticated`` (401 / UNAUTHENTICATED), logged once,
without the key.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
from starlette.types import ASGIApp, Receive, Scope, Send

from ovms_cli.errors import Unauthenticated
from ovms_cli.transports.errors import error_response, log_error

API_KEY_ENV = "API_KEY"
OPEN_REST_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/metrics"})
OPEN_GRPC_METHODS = frozenset(
    {"/inference.GRPCInferenceService/ServerLive", "/inference.GRPCInferenceService/ServerReady"}
)
MISSING = Unauthenticated("Unauthenticated", "an Authorization: Bearer API key is required")
WRONG = Unauthenticated("Unauthenticated", "the API key is not valid")


class ApiKeyError(ValueError):
    """The key file is unreadable or has an empty first line: start-up fails (exit 1)."""


class ApiKey:
    """The expected key; ``check`` compares in constant time (``hmac.compare_digest``)."""

    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def __repr__(self) -> str:
        return "ApiKey(***)"

    def check(self, authorization: str | None) -> None:
        """Raise ``Unauthenticated`` unless ``authorization`` is ``Bearer <the key>`` (RFC 6750)."""
        if not authorization:
            raise MISSING
        scheme, _, token = authorization.partition(" ")
        if not hmac.compare_digest(token.strip().encode(), self._key) or scheme.lower() != "bearer":
            raise WRONG


def load_api_key(path: Path | None, environ: Mapping[str, str] = os.environ) -> ApiKey | None:
    """The key from the first line of ``path`` (stripped), else ``$API_KEY``; None: no key required."""
    if path is None:
        value = environ.get(API_KEY_ENV, "").strip()
        return ApiKey(value) if value else None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ApiKeyError(f"Cannot read the --api_key_file {path}: {error}") from error
    key = lines[0].strip() if lines else ""
    if not key:
        raise ApiKeyError(f"The --api_key_file {path} is empty: its first line must be the API key")
    return ApiKey(key)


class RestApiKey:
    """ASGI middleware: refuse HTTP requests to non-probe paths without the key."""

    def __init__(self, app: ASGIApp, key: ApiKey) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_REST_PATHS:
            await self.app(scope, receive, send)
            return
        authorization = _header(scope["headers"], b"authorization")
        try:
            self.key.check(authorization)
        except Unauthenticated as error:
            log_error(error, f"REST {scope['method']} {scope['path']}")
            response = error_response(error.message, error.http_status)
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class GrpcApiKey(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc.aio has no stubs
    """Refuse RPCs other than ServerLive/ServerReady without the key in ``authorization`` metadata."""

    def __init__(self, key: ApiKey) -> None:
        self.key = key

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method in OPEN_GRPC_METHODS:
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        authorization = metadata.get("authorization")
        try:
            self.key.check(authorization if isinstance(authorization, str) else None)
        except Unauthenticated as error:
            log_error(error, f"gRPC {method.rsplit('/', 1)[-1]}")
            return _refusal(handler, error)
        return handler


def _refusal(handler: grpc.RpcMethodHandler, error: Unauthenticated) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that aborts with ``error``."""

    async def abort(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(error.grpc_code, error.message)

    options = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort, **options)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort, **options)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort, **options)
    return grpc.unary_unary_rpc_method_handler(abort, **options)
