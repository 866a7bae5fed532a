"""ModelInfer requests read apart from their tensor bytes: the same message protobuf would parse."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from ovms_cli._proto import grpc_predict_v2_pb2 as pb
from ovms_cli.protocol.kserve_grpc_raw import parse_infer_request

Tensor = pb.ModelInferRequest.InferInputTensor


def _request(raw: list[bytes]) -> pb.ModelInferRequest:
    return pb.ModelInferRequest(
        model_name="m",
        model_version="2",
        id="r-1",
        parameters={"sequence_id": pb.InferParameter(int64_param=7)},
        inputs=[Tensor(name=f"in{i}", datatype="UINT8", shape=[len(data)]) for i, data in enumerate(raw)],
        outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="out")],
        raw_input_contents=raw,
    )


@given(st.lists(st.binary(max_size=300), max_size=4))
def test_the_message_and_the_raw_contents_are_protobufs_own(raw: list[bytes]) -> None:
    data = _request(raw).SerializeToString()

    parsed = parse_infer_request(data)

    expected = pb.ModelInferRequest.FromString(data)
    assert [bytes(view) for view in parsed.raw] == list(expected.raw_input_contents)
    expected.ClearField("raw_input_contents")
    assert parsed.message == expected


def test_raw_contents_between_other_fields_keep_every_field_in_order() -> None:
    head = pb.ModelInferRequest(model_name="m", raw_input_contents=[b"abc"]).SerializeToString()
    tail = pb.ModelInferRequest(inputs=[Tensor(name="x", datatype="UINT8", shape=[3])], model_name="n")

    parsed = parse_infer_request(head + tail.SerializeToString())

    assert [bytes(view) for view in parsed.raw] == [b"abc"]
    assert parsed.message.model_name == "n"  # the last value of a singular field wins, as in protobuf
    assert [t.name for t in parsed.message.inputs] == ["x"]


def test_the_tensor_bytes_are_not_copied() -> None:
    data = _request([bytes(range(200))]).SerializeToString()

    parsed = parse_infer_request(data)

    assert parsed.raw[0].obj is data


@pytest.mark.parametrize("cut", [1, 5, 40])
def test_a_truncated_message_is_refused_like_protobuf_refuses_it(cut: int) -> None:
    data = _request([bytes(100)]).SerializeToString()[:-cut]

    with pytest.raises(DecodeError):
        pb.ModelInferRequest.FromString(data)
    with pytest.raises(DecodeError):
        parse_infer_request(data)
