"""The one exception tree of the server.

Every error a client can see is a ``ServingError``; each subclass carries the HTTP status
and the gRPC status code it maps to, so transports translate an error once and never build
an error response by hand::

    ServingError                       500  INTERNAL
    ├── InvalidInput                   400  INVALID_ARGUMENT
    │   └── InvalidField               400  INVALID_ARGUMENT (names the field)
    ├── Unauthenticated                401  UNAUTHENTICATED
    ├── NotFound                       404  NOT_FOUND
    │   ├── ModelNotFound              404  NOT_FOUND
    │   └── VersionNotFound            404  NOT_FOUND
    ├── AlreadyExists                  409  ALREADY_EXISTS
    ├── NotReady                       503  UNAVAILABLE
    ├── PreconditionFailed             412  FAILED_PRECONDITION
    ├── ResourceExhausted              413  RESOURCE_EXHAUSTED
    ├── UnsupportedMediaType           415  UNIMPLEMENTED
    ├── Unimplemented                  501  UNIMPLEMENTED
    ├── Aborted                        204  ABORTED
    └── InternalError                  500  INTERNAL

Messages follow OVMS's texts (spec Appendix A) with details after `` - ``.
"""

from __future__ import annotations

from typing import ClassVar

import grpc


class ServingError(Exception):
    """Base of every error that reaches a client."""

    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, details: str = "") -> None:
        self.message = f"{message} - {details}" if details else message
        super().__init__(self.message)


class InvalidInput(ServingError):
    http_status = 400
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class Unauthenticated(ServingError):
    """A missing or wrong API key (``--api_key_file``); REST adds ``WWW-Authenticate: Bearer``."""

    http_status = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class NotFound(ServingError):
    http_status = 404
    grpc_code = grpc.StatusCode.NOT_FOUND


class ModelNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__("Model with requested name is not found", f"name: {name}")


class VersionNotFound(NotFound):
    def __init__(self, name: str, version: int | None) -> None:
        which = "default (no version available)" if version is None else str(version)
        super().__init__("Model with requested version is not found", f"name: {name}; version: {which}")


class AlreadyExists(ServingError):
    """OVMS's ``SEQUENCE_ALREADY_EXISTS`` (spec §9.3, Appendix A)."""

    http_status = 409
    grpc_code = grpc.StatusCode.ALREADY_EXISTS


class NotReady(ServingError):
    http_status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE


class PreconditionFailed(ServingError):
    http_status = 412
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(ServingError):
    http_status = 413
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnsupportedMediaType(ServingError):
    """A body in a form the server cannot read (a ``Content-Encoding`` it does not decode); gRPC
    answers an unknown compression UNIMPLEMENTED."""

    http_status = 415
    grpc_code = grpc.StatusCode.UNIMPLEMENTED


class Unimplemented(ServingError):
    http_status = 501
    grpc_code = grpc.StatusCode.UNIMPLEMENTED


class Aborted(ServingError):
    """OVMS's answer when a dynamic demultiplexer produced no branches (spec §8.3): no content."""

    http_status = 204
    grpc_code = grpc.StatusCode.ABORTED


class InternalError(ServingError):
    http_status = 500
    grpc_code = grpc.StatusCode.INTERNAL


class InvalidField(InvalidInput):
    """A request field with a value the server refuses; ``param`` names the field (OpenAI's error ``param``)."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)
