"""Every model endpoint is wrapped once, here: admission while draining, the error mapping of
``errors.py``, the request's metrics and its one DEBUG line.

A wrapped endpoint declares what it serves as a ``Call`` (API, interface, method: the metric
labels) and how to read the model name and requested version from its request, read only after
the answer so that the hot path does not pay for it when neither metrics nor DEBUG want it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import Response

from ovms_cli.errors import ServingError
from ovms_cli.logs import LEVELS
from ovms_cli.metrics import GRPC, REST, Endpoint, ServingMetrics, endpoint
from ovms_cli.transports.errors import as_serving_error, error_response, log_error
from ovms_cli.transports.gate import Gate

log = logging.getLogger("ovms.serving")
TRACE = LEVELS["TRACE"]

Target = tuple[str, int | None]  # model name, requested version (None: the default one)
Call = tuple[Endpoint, str, int | None]
GrpcHandler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
RestHandler = Callable[[Request], Awaitable[Response]]


class RequestTracker:
    """Shared by the gRPC and REST transports of one server."""

    def __init__(self, metrics: ServingMetrics | None = None) -> None:
        self.gate = Gate()
        self.metrics = metrics

    def grpc(
        self, handler: GrpcHandler, api: str, method: str, target: Callable[[Any], Target]
    ) -> GrpcHandler:
        served = endpoint(api, GRPC, method)
        gate = self.gate

        def describe(request: Any) -> Call | None:
            try:
                name, version = target(request)
            except ServingError:
                return None
            return served, name, version

        async def tracked(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start = time.perf_counter()
            if log.isEnabledFor(TRACE):
                log.log(TRACE, "gRPC %s: started", method)
            try:
                gate.enter()
                try:
                    reply = await handler(request, context)
                finally:
                    gate.leave()
            except Exception as raised:
                error = as_serving_error(raised)
            else:
                self._finish(describe, request, None, start, f"gRPC {method}")
                return reply
            self._finish(describe, request, error, start, f"gRPC {method}")
            await context.abort(error.grpc_code, error.message)
            raise AssertionError("unreachable: abort raises")

        return tracked

    def rest(self, handler: RestHandler, describe: Callable[[Request], Call | None]) -> RestHandler:
        gate = self.gate

        async def tracked(request: Request) -> Response:
            start = time.perf_counter()
            if log.isEnabledFor(TRACE):
                log.log(TRACE, "REST %s %s: started", request.method, request.url.path)
            try:
                gate.enter()
                try:
                    response = await handler(request)
                finally:
                    gate.leave()
            except Exception as raised:
                error = as_serving_error(raised)
            else:
                self._finish(describe, request, None, start, f"REST {request.url.path}")
                return response
            self._finish(describe, request, error, start, f"REST {request.method} {request.url.path}")
            return error_response(error.message, error.http_status)

        return tracked

    def _finish(
        self,
        describe: Callable[[Any], Call | None],
        request: Any,
        error: ServingError | None,
        start: float,
        where: str,
    ) -> None:
        if error is not None:
            log_error(error, where)
        metrics = self.metrics
        debug = log.isEnabledFor(logging.DEBUG)
        if metrics is None and not debug:
            return
        seconds = time.perf_counter() - start
        call = describe(request)
        if call is not None and metrics is not None:
            metrics.count(call[0], call[1], call[2], error is None, seconds)
        if debug:
            _log_request(call, where, error, seconds)


def _log_request(call: Call | None, where: str, error: ServingError | None, seconds: float) -> None:
    outcome = "OK" if error is None else error.grpc_code.name
    if call is None:
        log.debug("%s: %s in %.3f ms", where, outcome, seconds * 1e3)
        return
    served, name, version = call
    log.debug(
        "%s %s %s name: %s; version: %s; %s in %.3f ms",
        served.interface,
        served.api,
        served.method,
        name,
        "default" if version is None else version,
        outcome,
        seconds * 1e3,
    )


def rest_call(api: str, method: str) -> Callable[[Request], Call | None]:
    """``describe`` for a REST route whose path holds ``{name}`` and maybe ``{version}``."""
    served = endpoint(api, REST, method)

    def describe(request: Request) -> Call | None:
        params = request.path_params
        return served, params["name"], params.get("version")

    return describe


__all__ = ["Call", "RequestTracker", "Target", "rest_call"]
