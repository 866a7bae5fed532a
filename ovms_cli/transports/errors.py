"""Where a ServingError becomes a gRPC status or an HTTP response: once, and logged once."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import grpc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ovms_cli.errors import InternalError, ServingError
from ovms_cli.protocol.kserve_rest import encode_error

log = logging.getLogger("ovms.serving")

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def as_serving_error(error: BaseException) -> ServingError:
    if isinstance(error, ServingError):
        return error
    log.exception("Unexpected error", exc_info=error)
    return InternalError("Internal server error", f"{type(error).__name__}: {error}")


def log_error(error: ServingError, where: str) -> None:
    log.warning("%s: %s (%s)", where, error.message, error.grpc_code.name)


def grpc_errors(method: Handler) -> Handler:
    @functools.wraps(method)
    async def wrapper(self: object, request: object, context: grpc.aio.ServicerContext) -> object:
        try:
            return await method(self, request, context)
        except Exception as raised:
            error = as_serving_error(raised)
        log_error(error, f"gRPC {method.__name__}")
        await context.abort(error.grpc_code, error.message)
        raise AssertionError("unreachable: abort raises")

    return cast(Handler, wrapper)


def rest_errors(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as raised:
            error = as_serving_error(raised)
        log_error(error, f"REST {request.method} {request.url.path}")
        return error_response(error.message, error.http_status)

    return wrapper


def error_response(message: str, status: int) -> Response:
    return Response(encode_error(message), status_code=status, media_type="application/json")


async def http_exception_handler(request: Request, raised: Exception) -> Response:
    assert isinstance(raised, HTTPException)
    return error_response(raised.detail, raised.status_code)
