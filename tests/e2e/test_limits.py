"""``--max_request_size``: an oversized request gets its error, and the server keeps serving."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from builders import affine_model, write_ir
from tritonclient.utils import InferenceServerException

if TYPE_CHECKING:
    from conftest import ServerProcess

LIMIT = 1 << 20
OVERSIZED = np.ones((LIMIT // 8, 4), np.float32)  # 2 MiB
SMALL = np.ones((2, 4), np.float32)


@pytest.fixture
def server(spawn_server: Callable[..., ServerProcess], tmp_path: Path) -> ServerProcess:
    model = write_ir(affine_model(), tmp_path / "affine", 1)
    return spawn_server(
        ["--model_name", "affine", "--model_path", str(model), "--max_request_size", str(LIMIT)]
    )


def infer_body(data: np.ndarray) -> tuple[bytes, dict[str, str]]:
    header = (
        f'{{"inputs":[{{"name":"input","shape":{list(data.shape)},"datatype":"FP32",'
        f'"parameters":{{"binary_data_size":{data.nbytes}}}}}]}}'
    ).encode()
    return header + data.tobytes(), {"Inference-Header-Content-Length": str(len(header))}


def rest_infer(server: ServerProcess, data: np.ndarray, chunked: bool = False) -> httpx.Response:
    body, headers = infer_body(data)
    url = f"http://{server.rest_url}/v2/models/affine/infer"

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 << 10):
            yield body[start : start + (64 << 10)]

    return httpx.post(url, content=chunks() if chunked else body, headers=headers, timeout=30)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_rest_body_is_413_naming_the_flag(server: ServerProcess, chunked: bool) -> None:
    answer = rest_infer(server, OVERSIZED, chunked)
    assert answer.status_code == 413
    assert "--max_request_size" in answer.json()["error"]
    assert rest_infer(server, SMALL, chunked).status_code == 200


def test_oversized_grpc_message_is_resource_exhausted(server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)

    def infer(data: np.ndarray) -> grpcclient.InferResult:
        tensor = grpcclient.InferInput("input", list(data.shape), "FP32")
        tensor.set_data_from_numpy(data)
        return client.infer("affine", [tensor], client_timeout=30)

    with pytest.raises(InferenceServerException) as raised:
        infer(OVERSIZED)
    assert raised.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
    # gRPC core refuses the message before any handler runs; its message gives both sizes.
    assert f"vs. {LIMIT}" in raised.value.message()
    np.testing.assert_array_equal(infer(SMALL).as_numpy("scaled"), SMALL * 2 + 1)
    client.close()
