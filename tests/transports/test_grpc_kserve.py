from collections.abc import AsyncIterator

import grpc
import numpy as np
import pytest

from ovms_cli._proto import grpc_predict_v2_pb2 as pb
from ovms_cli._proto import grpc_predict_v2_pb2_grpc as pb_grpc
from ovms_cli.servables.manager import ModelManager
from ovms_cli.transports import grpc_kserve


@pytest.fixture
async def stub(manager: ModelManager) -> AsyncIterator[pb_grpc.GRPCInferenceServiceStub]:
    server = grpc.aio.server()
    grpc_kserve.add_to_server(server, manager)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)
    await server.stop(None)


async def test_a_model_still_loading_is_unavailable(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    assert not (await stub.ModelReady(pb.ModelReadyRequest(name="loading"))).ready
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ModelMetadata(pb.ModelMetadataRequest(name="loading", version="1"))
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    request = pb.ModelInferRequest(model_name="loading")
    request.inputs.add(name="input", datatype="FP32", shape=[1, 4])
    request.raw_input_contents.append(np.zeros(4, np.float32).tobytes())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ModelInfer(request)
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "not loaded yet" in (raised.value.details() or "")


async def test_unknown_model_is_not_found_and_bad_version_is_invalid(
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ModelReady(pb.ModelReadyRequest(name="nope"))
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ModelReady(pb.ModelReadyRequest(name="affine", version="x1"))
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_stream_infer_answers_each_request_in_order(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    good = pb.ModelInferRequest(model_name="affine", id="good")
    good.inputs.add(name="input", datatype="FP32", shape=[1, 4])
    good.raw_input_contents.append(np.arange(4, dtype=np.float32).tobytes())
    no_inputs = pb.ModelInferRequest(model_name="affine", id="no-inputs")
    answers = [answer async for answer in stub.ModelStreamInfer(iter([good, no_inputs, good]))]
    assert [a.infer_response.id for a in answers] == ["good", "", "good"]
    assert answers[1].error_message == "Invalid number of inputs - Expected: 1; Actual: 0"
    scaled = np.frombuffer(answers[2].infer_response.raw_output_contents[0], np.float32)
    np.testing.assert_array_equal(scaled, np.arange(4, dtype=np.float32) * 2 + 1)
