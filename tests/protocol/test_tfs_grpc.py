"""TFS gRPC messages ⇄ core types, with requests built and responses read by ovmsclient."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from ovmsclient.tfs_compat.grpc.requests import (
    make_metadata_request,
    make_predict_request,
    make_status_request,
)
from ovmsclient.tfs_compat.grpc.responses import GrpcPredictResponse
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2 as client_predict

from ovms_cli._proto.tensorflow_serving.apis.get_model_metadata_pb2 import GetModelMetadataRequest
from ovms_cli._proto.tensorflow_serving.apis.get_model_status_pb2 import GetModelStatusRequest
from ovms_cli._proto.tensorflow_serving.apis.predict_pb2 import PredictRequest, PredictResponse
from ovms_cli.errors import InvalidInput
from ovms_cli.protocol import tfs_grpc
from ovms_cli.types import Array, InferenceResponse, State, VersionStatus


def reread(message: Any, cls: Any) -> Any:
    return cls.FromString(message.SerializeToString())


def client_outputs(resp: InferenceResponse) -> Any:
    """The response as ovmsclient's GrpcClient.predict returns it; both encoders must agree."""
    wire = tfs_grpc.serialize_predict_response(resp)
    assert PredictResponse.FromString(wire) == tfs_grpc.encode_predict_response(resp)
    return GrpcPredictResponse(client_predict.PredictResponse.FromString(wire)).to_dict()["outputs"]


def strings(*items: bytes) -> Array:
    out = np.empty(len(items), dtype=np.object_)
    out[:] = list(items)
    return out


# ---- predict ----


def test_decode_ovmsclient_predict_request() -> None:
    inputs = {"a": np.arange(6, dtype=np.int32).reshape(2, 3), "img": b"\x89PNG", "s": np.float32(1.5)}
    request = tfs_grpc.decode_predict_request(
        reread(make_predict_request(inputs, "model", 3).raw_request, PredictRequest)
    )
    assert request.model_name == "model"
    assert request.model_version == 3
    assert request.requested_outputs == ()
    np.testing.assert_array_equal(request.inputs["a"], inputs["a"])
    assert request.inputs["img"].tolist() == [b"\x89PNG"]
    assert request.inputs["s"].tolist() == [1.5]


def test_default_version() -> None:
    request = reread(make_predict_request({"x": np.ones(2, np.float32)}, "model").raw_request, PredictRequest)
    assert request.model_spec.HasField("version")  # ovmsclient always sets it, to 0
    assert tfs_grpc.decode_predict_request(request).model_version is None


def test_output_filter_selects_outputs_in_order_and_refuses_one_asked_twice() -> None:
    request = PredictRequest(output_filter=["b", "a"])
    request.model_spec.name = "m"
    assert tfs_grpc.decode_predict_request(request).requested_outputs == ("b", "a")
    request.output_filter.append("b")
    with pytest.raises(InvalidInput) as info:
        tfs_grpc.decode_predict_request(request)
    assert info.value.message == "Duplicate output in request - output name: b"


def test_predict_without_model_spec() -> None:
    with pytest.raises(InvalidInput) as raised:
        tfs_grpc.decode_predict_request(PredictRequest())
    assert raised.value.message == "model_spec missing in request"


def test_predict_response_as_ovmsclient_reads_it() -> None:
    scaled = np.arange(8, dtype=np.float32).reshape(2, 4)
    total = np.array([1.5, -2.5], dtype=np.float64)
    halves = np.array([[0.5, 1.0]], dtype=np.float16)
    text = strings(b"abc", b"", "zażółć".encode())
    outputs = client_outputs(
        InferenceResponse("m", 1, {"scaled": scaled, "total": total, "h": halves, "t_string": text})
    )
    np.testing.assert_array_equal(outputs["scaled"], scaled)
    np.testing.assert_array_equal(outputs["total"], total)
    assert outputs["h"].dtype == np.float16
    np.testing.assert_array_equal(outputs["h"], halves)
    assert outputs["t_string"].tolist() == text.tolist()


def test_single_output_serializes_as_protobuf_does() -> None:
    resp = InferenceResponse("m", 1, {"y": np.arange(300, dtype=np.int64).reshape(3, 100)})
    assert (
        tfs_grpc.serialize_predict_response(resp)
        == tfs_grpc.encode_predict_response(resp).SerializeToString()
    )
    np.testing.assert_array_equal(client_outputs(resp), resp.outputs["y"])


def test_empty_and_scalar_outputs() -> None:
    resp = InferenceResponse("m", 1, {"empty": np.zeros((0, 4), np.float32), "scalar": np.array(7, np.int32)})
    outputs = client_outputs(resp)
    assert outputs["empty"].shape == (0, 4)
    assert outputs["scalar"].shape == ()
    assert outputs["scalar"] == 7


def test_response_model_spec_is_left_empty() -> None:
    resp = InferenceResponse("m", 4, {"y": np.ones(1, np.float32)})
    assert not PredictResponse.FromString(tfs_grpc.serialize_predict_response(resp)).HasField("model_spec")


# ---- metadata and status ----


def test_decode_ovmsclient_metadata_request() -> None:
    message = reread(make_metadata_request("model", 2).raw_request, GetModelMetadataRequest)
    assert tfs_grpc.decode_metadata_request(message) == ("model", 2)
    message = reread(make_metadata_request("model").raw_request, GetModelMetadataRequest)
    assert tfs_grpc.decode_metadata_request(message) == ("model", None)


@pytest.mark.parametrize("fields", [[], ["signature_def", "signature_def"], ["inputs"]])
def test_metadata_field_must_be_signature_def(fields: list[str]) -> None:
    message = GetModelMetadataRequest(metadata_field=fields)
    message.model_spec.name = "model"
    with pytest.raises(InvalidInput) as raised:
        tfs_grpc.decode_metadata_request(message)
    assert (
        raised.value.message
        == f'Invalid signature name - metadata_field must be ["signature_def"], got {fields}'
    )


def test_metadata_without_model_spec() -> None:
    with pytest.raises(InvalidInput, match="model_spec missing in request"):
        tfs_grpc.decode_metadata_request(GetModelMetadataRequest(metadata_field=["signature_def"]))


def test_decode_ovmsclient_status_request() -> None:
    message = reread(make_status_request("model", 1).raw_request, GetModelStatusRequest)
    assert tfs_grpc.decode_status_request(message) == ("model", 1)
    message = reread(make_status_request("model").raw_request, GetModelStatusRequest)
    assert tfs_grpc.decode_status_request(message) == ("model", None)
    with pytest.raises(InvalidInput, match="model_spec missing in request"):
        tfs_grpc.decode_status_request(GetModelStatusRequest())


def test_encode_model_status() -> None:
    response = tfs_grpc.encode_model_status(
        [VersionStatus(1, State.AVAILABLE), VersionStatus(2, State.START)]
    )
    assert [(s.version, s.state, s.status.error_message) for s in response.model_version_status] == [
        (1, 30, "OK"),
        (2, 10, "OK"),
    ]
