"""The KServe v2 model repository extension's messages, over REST (JSON) and gRPC, as Triton has them.

REST (Triton's ``http_server.cc`` and ``tritonclient.http``)::

    POST /v2/repository/index                  {"ready": bool}?  -> [{"name", "version"?, "state", "reason"?}]
    POST /v2/repository/models/{name}/load     {"parameters": {"config": "<JSON text>"}}?
    POST /v2/repository/models/{name}/unload   {"parameters": {"unload_dependents": bool}}?

gRPC: ``RepositoryIndex``, ``RepositoryModelLoad``, ``RepositoryModelUnload`` of
``inference.GRPCInferenceService`` (protos/grpc_repository_v2.proto). Both wires share one rule
for the parameters: ``config`` is a string, ``unload_dependents`` a bool; Triton's ``file:<path>``
parameters (model files in the request) are refused as not supported, and any other parameter or
body key as unknown: nothing a client sends is dropped unread. ``repository_name`` (Triton's
multi-repository selector) must be empty: there is one repository.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ovms_cli._proto import grpc_repository_v2_pb2 as pb
from ovms_cli.errors import InvalidInput, Unimplemented
from ovms_cli.types import RepositoryEntry

CONFIG = "config"
UNLOAD_DEPENDENTS = "unload_dependents"
FILE_PREFIX = "file:"


@dataclass(frozen=True, slots=True)
class LoadRequest:
    name: str
    config: str | None = None  # a JSON object of OVMS model options, as text


@dataclass(frozen=True, slots=True)
class UnloadRequest:
    name: str
    unload_dependents: bool = False


def load_request(name: str, parameters: Mapping[str, object]) -> LoadRequest:
    """Raises InvalidInput (an unknown parameter, a config not a string), Unimplemented (files)."""
    for key, value in parameters.items():
        if key.startswith(FILE_PREFIX):
            raise Unimplemented("Model files in a load request are not supported", f"parameter: {key}")
        if key != CONFIG:
            raise InvalidInput("Unknown load parameter", f"{key}; the one supported is {CONFIG}")
        if not isinstance(value, str):
            raise InvalidInput("Invalid load parameter", f"{CONFIG} must be a string of JSON")
    config = parameters.get(CONFIG)
    return LoadRequest(name, config if isinstance(config, str) else None)


def unload_request(name: str, parameters: Mapping[str, object]) -> UnloadRequest:
    """Raises InvalidInput (an unknown parameter, unload_dependents not a bool)."""
    for key, value in parameters.items():
        if key != UNLOAD_DEPENDENTS:
            raise InvalidInput("Unknown unload parameter", f"{key}; the one supported is {UNLOAD_DEPENDENTS}")
        if not isinstance(value, bool):
            raise InvalidInput("Invalid unload parameter", f"{UNLOAD_DEPENDENTS} must be a boolean")
    return UnloadRequest(name, parameters.get(UNLOAD_DEPENDENTS) is True)


# --- REST -------------------------------------------------------------------------------------


def decode_rest_index(body: bytes) -> bool:
    """Whether only READY models are asked for. Raises InvalidInput."""
    document = _rest_body(body, {"ready"})
    ready = document.get("ready", False)
    if not isinstance(ready, bool):
        raise InvalidInput("Invalid repository index request", "ready must be a boolean")
    return ready


def decode_rest_load(name: str, body: bytes) -> LoadRequest:
    return load_request(name, _rest_parameters(body))


def decode_rest_unload(name: str, body: bytes) -> UnloadRequest:
    return unload_request(name, _rest_parameters(body))


def encode_rest_index(entries: Sequence[RepositoryEntry]) -> bytes:
    """A JSON array; ``version`` and ``reason`` only where there is one, as Triton writes them."""
    return orjson.dumps([_rest_entry(entry) for entry in entries])


def _rest_entry(entry: RepositoryEntry) -> dict[str, str]:
    document = {"name": entry.name}
    if entry.version is not None:
        document["version"] = str(entry.version)
    document["state"] = entry.state
    if entry.reason:
        document["reason"] = entry.reason
    return document


def _rest_parameters(body: bytes) -> dict[str, Any]:
    parameters = _rest_body(body, {"parameters"}).get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput("Invalid repository request", "parameters must be a JSON object")
    return parameters


def _rest_body(body: bytes, keys: set[str]) -> dict[str, Any]:
    """The body as a JSON object with only ``keys``; an empty body is ``{}`` (tritonclient's index)."""
    if not body.strip():
        return {}
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput("Invalid repository request", f"body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidInput("Invalid repository request", "body must be a JSON object")
    unknown = sorted(set(document) - keys)
    if unknown:
        raise InvalidInput("Invalid repository request", f"unknown key {unknown[0]}")
    return document


# --- gRPC -------------------------------------------------------------------------------------


def decode_grpc_index(request: pb.RepositoryIndexRequest) -> bool:
    _check_repository_name(request.repository_name)
    return bool(request.ready)


def decode_grpc_load(request: pb.RepositoryModelLoadRequest) -> LoadRequest:
    _check_repository_name(request.repository_name)
    return load_request(request.model_name, _grpc_parameters(request.parameters))


def decode_grpc_unload(request: pb.RepositoryModelUnloadRequest) -> UnloadRequest:
    _check_repository_name(request.repository_name)
    return unload_request(request.model_name, _grpc_parameters(request.parameters))


def encode_grpc_index(entries: Sequence[RepositoryEntry]) -> pb.RepositoryIndexResponse:
    return pb.RepositoryIndexResponse(
        models=[
            pb.RepositoryIndexResponse.ModelIndex(
                name=entry.name,
                version="" if entry.version is None else str(entry.version),
                state=entry.state,
                reason=entry.reason,
            )
            for entry in entries
        ]
    )


def _grpc_parameters(parameters: Mapping[str, pb.ModelRepositoryParameter]) -> dict[str, object]:
    """Each parameter's set value; one with none set is refused (it carries nothing to read)."""
    values: dict[str, object] = {}
    for key, parameter in parameters.items():
        which = parameter.WhichOneof("parameter_choice")
        if which is None:
            raise InvalidInput("Invalid repository request", f"parameter {key} has no value")
        values[key] = getattr(parameter, which)
    return values


def _check_repository_name(name: str) -> None:
    if name:
        raise InvalidInput(
            "Invalid repository request", f"repository_name {name!r}: this server has one repository"
        )
