"""Triton's system shared-memory extension the way its examples use it: regions made with
``tritonclient.utils.shared_memory``, registered, named by ``set_shared_memory`` on inputs and
outputs, over gRPC and HTTP; bounds, unknown regions, unregistering, CUDA shared memory refused."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from e2e.triton_server import triton_server, triton_server_args
from server_process import ServerProcess, start_server
from triton_models import write_triton_repository
from tritonclient import utils
from tritonclient.utils import InferenceServerException

__all__ = ["triton_server"]

PROTOCOLS = ["grpc", "http"]
NBYTES = 64  # one INT32[1,16] tensor


def _client(server: ServerProcess, protocol: str) -> Any:
    if protocol == "grpc":
        return grpcclient.InferenceServerClient(server.grpc_url)
    return httpclient.InferenceServerClient(server.rest_url)


def _module(protocol: str) -> Any:
    return grpcclient if protocol == "grpc" else httpclient


@pytest.fixture
def regions() -> Iterator[dict[str, Any]]:
    """An input region holding INPUT0 then INPUT1 and an output region for OUTPUT0 then OUTPUT1."""
    tag = uuid.uuid4().hex[:8]
    made = {
        "input": shm.create_shared_memory_region(f"in_{tag}", f"/ovms_in_{tag}", 2 * NBYTES),
        "output": shm.create_shared_memory_region(f"out_{tag}", f"/ovms_out_{tag}", 2 * NBYTES),
    }
    made["keys"] = {"input": f"/ovms_in_{tag}", "output": f"/ovms_out_{tag}"}
    made["names"] = {"input": f"in_{tag}", "output": f"out_{tag}"}
    shm.set_shared_memory_region(made["input"], [np.arange(16, dtype=np.int32)])
    shm.set_shared_memory_region(made["input"], [np.full(16, 3, dtype=np.int32)], offset=NBYTES)
    yield made
    shm.destroy_shared_memory_region(made["input"])
    shm.destroy_shared_memory_region(made["output"])


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    chosen: str = request.param
    return chosen


@pytest.fixture
def client(triton_server: ServerProcess, protocol: str) -> Iterator[Any]:
    """tritonclient over ``protocol``, with no region registered before or after the test."""
    made = _client(triton_server, protocol)
    made.unregister_system_shared_memory()
    yield made
    made.unregister_system_shared_memory()


@pytest.fixture
def registered(client: Any, regions: dict[str, Any]) -> Any:
    """``client`` once ``regions`` are registered as the examples do."""
    _register(client, regions)
    return client


def _register(client: Any, regions: dict[str, Any]) -> None:
    for which in ("input", "output"):
        client.register_system_shared_memory(regions["names"][which], regions["keys"][which], 2 * NBYTES)


def _shm_request(
    protocol: str, regions: dict[str, Any], offset1: int = NBYTES
) -> tuple[list[Any], list[Any]]:
    module = _module(protocol)
    inputs = [module.InferInput("INPUT0", [1, 16], "INT32"), module.InferInput("INPUT1", [1, 16], "INT32")]
    inputs[0].set_shared_memory(regions["names"]["input"], NBYTES)
    inputs[1].set_shared_memory(regions["names"]["input"], NBYTES, offset=offset1)
    outputs = [module.InferRequestedOutput("OUTPUT0"), module.InferRequestedOutput("OUTPUT1")]
    outputs[0].set_shared_memory(regions["names"]["output"], NBYTES)
    outputs[1].set_shared_memory(regions["names"]["output"], NBYTES, offset=NBYTES)
    return inputs, outputs


def test_inputs_and_outputs_in_shared_memory(registered: Any, protocol: str, regions: dict[str, Any]) -> None:
    client = registered
    inputs, outputs = _shm_request(protocol, regions)
    result = client.infer("simple", inputs, outputs=outputs)
    output0 = result.get_output("OUTPUT0")
    shape = list(output0.shape) if protocol == "grpc" else output0["shape"]
    assert [int(d) for d in shape] == [1, 16]
    total = shm.get_contents_as_numpy(regions["output"], np.int32, [1, 16])
    difference = shm.get_contents_as_numpy(regions["output"], np.int32, [1, 16], offset=NBYTES)
    np.testing.assert_array_equal(total[0], np.arange(16) + 3)
    np.testing.assert_array_equal(difference[0], np.arange(16) - 3)
    status = client.get_system_shared_memory_status(**({"as_json": True} if protocol == "grpc" else {}))
    described = status["regions"] if protocol == "grpc" else {r["name"]: r for r in status}
    assert described[regions["names"]["input"]]["key"] == regions["keys"]["input"]
    assert int(described[regions["names"]["input"]]["byte_size"]) == 2 * NBYTES


def test_input_from_shared_memory_output_on_the_wire(
    registered: Any, protocol: str, regions: dict[str, Any]
) -> None:
    client = registered
    inputs, _ = _shm_request(protocol, regions)
    result = client.infer("simple", inputs)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0")[0], np.arange(16) + 3)


def test_window_past_the_region_is_invalid(registered: Any, protocol: str, regions: dict[str, Any]) -> None:
    client = registered
    inputs, outputs = _shm_request(protocol, regions, offset1=NBYTES + 4)
    with pytest.raises(InferenceServerException) as raised:
        client.infer("simple", inputs, outputs=outputs)
    assert "does not fit region" in raised.value.message()
    assert raised.value.status() in ("StatusCode.INVALID_ARGUMENT", "400")


def test_unregistered_region_is_invalid(registered: Any, protocol: str, regions: dict[str, Any]) -> None:
    client = registered
    inputs, outputs = _shm_request(protocol, regions)
    client.infer("simple", inputs, outputs=outputs)
    client.unregister_system_shared_memory(regions["names"]["input"])
    with pytest.raises(InferenceServerException) as raised:
        client.infer("simple", inputs, outputs=outputs)
    assert "Unable to find system shared memory region" in raised.value.message()
    assert raised.value.status() in ("StatusCode.INVALID_ARGUMENT", "400")


def test_registration_errors(client: Any, regions: dict[str, Any]) -> None:
    name, key = regions["names"]["input"], regions["keys"]["input"]
    with pytest.raises(InferenceServerException, match="outside the object"):
        client.register_system_shared_memory(name, key, 2 * NBYTES, offset=8)
    with pytest.raises(InferenceServerException, match="invalid shared memory key"):
        client.register_system_shared_memory(name, "/../etc/passwd", 8)
    with pytest.raises(InferenceServerException, match="Unable to open"):
        client.register_system_shared_memory(name, f"{key}_missing", 8)
    client.register_system_shared_memory(name, key, NBYTES)
    with pytest.raises(InferenceServerException, match="already registered"):
        client.register_system_shared_memory(name, key, NBYTES)


def test_output_window_too_small_is_invalid(registered: Any, protocol: str, regions: dict[str, Any]) -> None:
    client = registered
    inputs, _ = _shm_request(protocol, regions)
    output = _module(protocol).InferRequestedOutput("OUTPUT0")
    output.set_shared_memory(regions["names"]["output"], NBYTES - 4)
    with pytest.raises(InferenceServerException, match="should be at least 64 bytes"):
        client.infer("simple", inputs, outputs=[output])


def test_cuda_shared_memory_has_nothing_and_refuses_registration(client: Any, protocol: str) -> None:
    client.unregister_cuda_shared_memory()
    status = client.get_cuda_shared_memory_status(**({"as_json": True} if protocol == "grpc" else {}))
    assert status in ({}, [])
    with pytest.raises(InferenceServerException, match="no GPU memory"):
        client.register_cuda_shared_memory("gpu", base64.b64encode(b"handle"), 0, 64)


def test_regions_are_isolated_per_server(
    triton_server: ServerProcess, regions: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("second")
    other = start_server(triton_server_args(write_triton_repository(root)), root / "ovms.log")
    try:
        first = grpcclient.InferenceServerClient(triton_server.grpc_url)
        first.unregister_system_shared_memory()
        _register(first, regions)
        second = grpcclient.InferenceServerClient(other.grpc_url)
        assert second.get_system_shared_memory_status(as_json=True) == {}
        inputs, outputs = _shm_request("grpc", regions)
        with pytest.raises(InferenceServerException, match="Unable to find system shared memory region"):
            second.infer("simple", inputs, outputs=outputs)
        first.unregister_system_shared_memory()
    finally:
        assert other.stop() == 0


def test_bytes_tensors_in_shared_memory(client: Any, protocol: str) -> None:
    """BYTES travel through regions length-prefixed, as tritonclient's serialize_byte_tensor writes them."""
    module = _module(protocol)
    tag = uuid.uuid4().hex[:8]
    numbers = np.arange(16, dtype=np.int32)
    texts = [
        np.array([str(n).encode() for n in values], dtype=np.object_).reshape(1, 16)
        for values in (numbers, -numbers)
    ]
    serialized = [utils.serialize_byte_tensor(text) for text in texts]
    sizes = [utils.serialized_byte_size(s) for s in serialized]
    out_size = 16 * (4 + 11)  # room for any int32 as text
    handles = [
        shm.create_shared_memory_region(f"s{i}_{tag}", f"/ovms_s{i}_{tag}", size)
        for i, size in enumerate([*sizes, out_size, out_size])
    ]
    try:
        for handle, data in zip(handles, serialized, strict=False):
            shm.set_shared_memory_region(handle, [data])
        for i, size in enumerate([*sizes, out_size, out_size]):
            client.register_system_shared_memory(f"s{i}_{tag}", f"/ovms_s{i}_{tag}", size)
        inputs = [module.InferInput(name, [1, 16], "BYTES") for name in ("INPUT0", "INPUT1")]
        for i, tensor in enumerate(inputs):
            tensor.set_shared_memory(f"s{i}_{tag}", sizes[i])
        outputs = [module.InferRequestedOutput(name) for name in ("OUTPUT0", "OUTPUT1")]
        for i, output in enumerate(outputs):
            output.set_shared_memory(f"s{i + 2}_{tag}", out_size)
        client.infer("simple_string", inputs, outputs=outputs)
        total = shm.get_contents_as_numpy(handles[2], np.object_, [1, 16])
        difference = shm.get_contents_as_numpy(handles[3], np.object_, [1, 16])
        assert [int(v) for v in total[0]] == [0] * 16
        assert [int(v) for v in difference[0]] == list(2 * numbers)
    finally:
        client.unregister_system_shared_memory()
        for handle in handles:
            shm.destroy_shared_memory_region(handle)


def test_an_input_in_shared_memory_beside_one_in_the_request(
    registered: Any, protocol: str, regions: dict[str, Any]
) -> None:
    """tritonclient sends raw contents only for the inputs not in shared memory: they still pair up."""
    module = _module(protocol)
    sent = module.InferInput("INPUT0", [1, 16], "INT32")
    sent.set_data_from_numpy(np.full((1, 16), 7, np.int32))
    shared = module.InferInput("INPUT1", [1, 16], "INT32")
    shared.set_shared_memory(regions["names"]["input"], NBYTES)  # holds 0..15
    result = registered.infer("simple", [shared, sent])
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0")[0], np.arange(16) + 7)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1")[0], 7 - np.arange(16))
