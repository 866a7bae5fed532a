"""The repository extension's codec (protocol/kserve_repository.py), against tritonclient's own messages."""

from __future__ import annotations

import json

import orjson
import pytest
from tritonclient.grpc import service_pb2 as triton

from ovms_cli._proto import grpc_repository_v2_pb2 as pb
from ovms_cli.errors import InvalidInput, Unimplemented
from ovms_cli.protocol import kserve_repository as codec
from ovms_cli.protocol.kserve_repository import LoadRequest, UnloadRequest
from ovms_cli.types import RepositoryEntry

ENTRIES = [
    RepositoryEntry("a", 1, "READY"),
    RepositoryEntry("a", 2, "UNAVAILABLE", "unloaded"),
    RepositoryEntry("b", None, "UNAVAILABLE", "not loaded"),
]


@pytest.mark.parametrize(
    ("body", "ready"), [(b"", False), (b"  ", False), (b"{}", False), (b'{"ready": true}', True)]
)
def test_rest_index_body(body: bytes, ready: bool) -> None:
    assert codec.decode_rest_index(body) is ready


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"ready": 1}', "ready must be a boolean"),
        (b'{"ready": true, "repository": "x"}', "unknown key repository"),
        (b"[]", "body must be a JSON object"),
        (b"{", "body is not valid JSON"),
    ],
)
def test_rest_index_refuses_what_it_cannot_honour(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        codec.decode_rest_index(body)


def test_rest_load_and_unload_bodies_as_tritonclient_sends_them() -> None:
    config = json.dumps({"nireq": 2})
    assert codec.decode_rest_load("m", b"{}") == LoadRequest("m")
    assert codec.decode_rest_load(
        "m", json.dumps({"parameters": {"config": config}}).encode()
    ) == LoadRequest("m", config)
    assert codec.decode_rest_unload("m", b'{"parameters": {"unload_dependents": false}}') == UnloadRequest(
        "m"
    )
    assert codec.decode_rest_unload("m", b'{"parameters": {"unload_dependents": true}}') == UnloadRequest(
        "m", True
    )
    assert codec.decode_rest_unload("m", b"") == UnloadRequest("m")


@pytest.mark.parametrize(
    ("parameters", "error", "message"),
    [
        ({"config": {"nireq": 2}}, InvalidInput, "config must be a string of JSON"),
        ({"file:1/model.xml": "PHhtbC8+"}, Unimplemented, "Model files in a load request are not supported"),
        ({"priority": 1}, InvalidInput, "Unknown load parameter - priority"),
    ],
)
def test_load_parameters_refused(parameters: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        codec.decode_rest_load("m", orjson.dumps({"parameters": parameters}))


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"unload_dependents": "yes"}, "must be a boolean"),
        ({"force": True}, "Unknown unload parameter - force"),
    ],
)
def test_unload_parameters_refused(parameters: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        codec.decode_rest_unload("m", orjson.dumps({"parameters": parameters}))
    with pytest.raises(InvalidInput, match="parameters must be a JSON object"):
        codec.decode_rest_unload("m", b'{"parameters": []}')


def test_rest_index_writes_version_and_reason_only_where_there_is_one() -> None:
    assert orjson.loads(codec.encode_rest_index(ENTRIES)) == [
        {"name": "a", "version": "1", "state": "READY"},
        {"name": "a", "version": "2", "state": "UNAVAILABLE", "reason": "unloaded"},
        {"name": "b", "state": "UNAVAILABLE", "reason": "not loaded"},
    ]


def _ours(message: object, ours: type) -> object:
    """tritonclient's message as it arrives on our side of the wire."""
    return ours.FromString(message.SerializeToString())  # type: ignore[attr-defined]


def test_grpc_requests_as_tritonclient_builds_them() -> None:
    load = triton.RepositoryModelLoadRequest(model_name="m")
    load.parameters["config"].string_param = '{"nireq": 2}'
    unload = triton.RepositoryModelUnloadRequest(model_name="m")
    unload.parameters["unload_dependents"].bool_param = False
    index = triton.RepositoryIndexRequest(ready=True)

    assert codec.decode_grpc_load(_ours(load, pb.RepositoryModelLoadRequest)) == LoadRequest(
        "m", '{"nireq": 2}'
    )
    assert codec.decode_grpc_unload(_ours(unload, pb.RepositoryModelUnloadRequest)) == UnloadRequest("m")
    assert codec.decode_grpc_index(_ours(index, pb.RepositoryIndexRequest)) is True


def test_grpc_refuses_files_a_wrong_type_an_empty_parameter_and_a_repository_name() -> None:
    files = pb.RepositoryModelLoadRequest(model_name="m")
    files.parameters["file:1/model.xml"].bytes_param = b"<xml/>"
    typed = pb.RepositoryModelLoadRequest(model_name="m")
    typed.parameters["config"].int64_param = 2
    empty = pb.RepositoryModelUnloadRequest(model_name="m")
    empty.parameters["unload_dependents"].SetInParent()
    with pytest.raises(Unimplemented):
        codec.decode_grpc_load(files)
    with pytest.raises(InvalidInput, match="config must be a string"):
        codec.decode_grpc_load(typed)
    with pytest.raises(InvalidInput, match="parameter unload_dependents has no value"):
        codec.decode_grpc_unload(empty)
    with pytest.raises(InvalidInput, match="this server has one repository"):
        codec.decode_grpc_index(pb.RepositoryIndexRequest(repository_name="other"))


def test_grpc_index_reads_as_tritonclient_reads_it() -> None:
    response = triton.RepositoryIndexResponse.FromString(codec.encode_grpc_index(ENTRIES).SerializeToString())

    assert [(m.name, m.version, m.state, m.reason) for m in response.models] == [
        ("a", "1", "READY", ""),
        ("a", "2", "UNAVAILABLE", "unloaded"),
        ("b", "", "UNAVAILABLE", "not loaded"),
    ]
