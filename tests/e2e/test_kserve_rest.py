"""KServe v2 over REST against a real ``ovms serve`` process: ``tritonclient.http`` and plain ``httpx``."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from builders import run_in_process
from e2e.server_metadata import EXTENSIONS
from tritonclient.utils import InferenceServerException

from ovms_cli import __version__

if TYPE_CHECKING:
    from conftest import ServerProcess

RNG = np.random.default_rng(20240502)
HEADER = "Inference-Header-Content-Length"


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    triton = httpclient.InferenceServerClient(server.rest_url)
    yield triton
    triton.close()


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{server.rest_url}", timeout=30) as session:
        yield session


def tensor(name: str, array: np.ndarray, datatype: str, binary: bool = True) -> httpclient.InferInput:
    infer_input = httpclient.InferInput(name, list(array.shape), datatype)
    infer_input.set_data_from_numpy(array, binary_data=binary)
    return infer_input


def affine_input(rows: int = 3) -> np.ndarray:
    return RNG.uniform(-10, 10, size=(rows, 4)).astype(np.float32)


def assert_server_healthy(server: ServerProcess, http: httpx.Client) -> None:
    """The process is alive and a good request still gets the right answer."""
    assert server.process.poll() is None, server.log_text()
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    answer = http.post("/v2/models/affine/infer", json=body)
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
    assert outputs == {"scaled": [3.0, 5.0, 7.0, 9.0], "total": [10.0]}


def infer_body(model_input: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"inputs": [model_input], **extra}


def fp32_input(shape: list[int], data: list[float], name: str = "input") -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": "FP32", "data": data}


# --- health and metadata ---------------------------------------------------------------------------


def test_server_is_live_and_ready(client: httpclient.InferenceServerClient, http: httpx.Client) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    for path in ("/v2/health/live", "/v2/health/ready"):
        answer = http.get(path)
        assert (answer.status_code, answer.content) == (200, b"")


@pytest.mark.parametrize(
    ("model", "version"),
    [("affine", ""), ("affine", "1"), ("affine", "2"), ("add_mul", ""), ("fixed", ""), ("echo", "1")],
)
def test_model_is_ready(
    client: httpclient.InferenceServerClient, http: httpx.Client, model: str, version: str
) -> None:
    assert client.is_model_ready(model, version) is True
    path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/ready"
    answer = http.get(path)
    assert (answer.status_code, answer.content) == (200, b"")


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/v2/models/no_such_model/ready", 404, "Model with requested name is not found"),
        ("/v2/models/no_such_model/versions/1/ready", 404, "Model with requested name is not found"),
        ("/v2/models/affine/versions/3/ready", 404, "Model with requested version is not found"),
        ("/v2/models/broken/ready", 404, "Model with requested version is not found"),
        ("/v2/models/broken/versions/1/ready", 503, "Model with requested version is not loaded yet"),
    ],
)
def test_model_not_ready(
    client: httpclient.InferenceServerClient, http: httpx.Client, path: str, status: int, message: str
) -> None:
    answer = http.get(path)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"].startswith(message)


def test_tritonclient_sees_unknown_and_broken_models_as_not_ready(
    client: httpclient.InferenceServerClient,
) -> None:
    assert client.is_model_ready("no_such_model") is False
    assert client.is_model_ready("affine", "3") is False
    assert client.is_model_ready("broken") is False


def test_server_metadata(client: httpclient.InferenceServerClient, http: httpx.Client) -> None:
    expected = {"name": "OpenVINO Model Server", "version": __version__, "extensions": EXTENSIONS}
    assert client.get_server_metadata() == expected
    answer = http.get("/v2")
    assert answer.status_code == 200
    assert answer.json() == expected


EXPECTED_METADATA: dict[str, dict[str, Any]] = {
    "affine": {
        "name": "affine",
        "versions": ["1", "2"],
        "platform": "OpenVINO",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [
            {"name": "scaled", "datatype": "FP32", "shape": [-1, 4]},
            {"name": "total", "datatype": "FP32", "shape": [-1]},
        ],
    },
    "add_mul": {
        "name": "add_mul",
        "versions": ["1"],
        "platform": "OpenVINO",
        "inputs": [
            {"name": "a", "datatype": "INT32", "shape": [-1, 3]},
            {"name": "b", "datatype": "INT32", "shape": [-1, 3]},
        ],
        "outputs": [
            {"name": "sum", "datatype": "INT32", "shape": [-1, 3]},
            {"name": "product", "datatype": "INT32", "shape": [-1, 3]},
        ],
    },
    "fixed": {
        "name": "fixed",
        "versions": ["1"],
        "platform": "OpenVINO",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 2, 2]}],
        "outputs": [{"name": "out", "datatype": "FP32", "shape": [1, 3, 2, 2]}],
    },
    "echo": {
        "name": "echo",
        "versions": ["1"],
        "platform": "OpenVINO",
        "inputs": [{"name": "text", "datatype": "UINT8", "shape": [-1, -1]}],
        "outputs": [{"name": "echo_string", "datatype": "BYTES", "shape": [-1]}],
    },
}


@pytest.mark.parametrize("model", sorted(EXPECTED_METADATA))
def test_model_metadata(client: httpclient.InferenceServerClient, http: httpx.Client, model: str) -> None:
    assert client.get_model_metadata(model) == EXPECTED_METADATA[model]
    answer = http.get(f"/v2/models/{model}")
    assert answer.status_code == 200
    assert list(answer.json()) == ["name", "versions", "platform", "inputs", "outputs"]
    assert answer.json() == EXPECTED_METADATA[model]


@pytest.mark.parametrize("version", ["1", "2"])
def test_metadata_of_a_specific_version(client: httpclient.InferenceServerClient, version: str) -> None:
    assert client.get_model_metadata("affine", version) == EXPECTED_METADATA["affine"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v2/models/no_such_model", "Model with requested name is not found"),
        ("/v2/models/affine/versions/9", "Model with requested version is not found"),
        ("/v2/models/broken", "Model with requested version is not found"),
    ],
)
def test_metadata_of_unknown_or_failed_model_is_404(
    client: httpclient.InferenceServerClient, http: httpx.Client, path: str, message: str
) -> None:
    answer = http.get(path)
    assert answer.status_code == 404
    assert answer.json()["error"].startswith(message)
    name, _, version = path.removeprefix("/v2/models/").partition("/versions/")
    with pytest.raises(InferenceServerException) as raised:
        client.get_model_metadata(name, version)
    assert raised.value.status() == "404"


# --- inference compared with OpenVINO in process ---------------------------------------------------

FORMATS = [
    pytest.param(True, True, id="binary-in-binary-out"),
    pytest.param(False, False, id="json-in-json-out"),
    pytest.param(True, False, id="binary-in-json-out"),
    pytest.param(False, True, id="json-in-binary-out"),
]


def _outputs(names: list[str], binary: bool) -> list[httpclient.InferRequestedOutput]:
    return [httpclient.InferRequestedOutput(name, binary_data=binary) for name in names]


def _assert_output_form(result: httpclient.InferResult, name: str, binary: bool) -> None:
    output = result.get_output(name)
    assert output is not None
    if binary:
        assert "data" not in output
        assert output["parameters"]["binary_data_size"] > 0
    else:
        assert "data" in output
        assert "parameters" not in output


@pytest.mark.parametrize(("binary_in", "binary_out"), FORMATS)
def test_affine_ir_matches_openvino(
    client: httpclient.InferenceServerClient, repository: Path, binary_in: bool, binary_out: bool
) -> None:
    data = affine_input(5)
    result = client.infer(
        "affine",
        [tensor("input", data, "FP32", binary_in)],
        outputs=_outputs(["scaled", "total"], binary_out),
    )
    expected = run_in_process(repository / "affine" / "2", {"input": data})
    for name in ("scaled", "total"):
        _assert_output_form(result, name, binary_out)
        np.testing.assert_allclose(result.as_numpy(name), expected[name], rtol=1e-6)
        assert result.as_numpy(name).dtype == np.float32
    assert result.get_output("total")["shape"] == [5]


@pytest.mark.parametrize(("binary_in", "binary_out"), FORMATS)
def test_add_mul_onnx_matches_openvino(
    client: httpclient.InferenceServerClient, repository: Path, binary_in: bool, binary_out: bool
) -> None:
    a = RNG.integers(-1000, 1000, size=(4, 3), dtype=np.int32)
    b = RNG.integers(-1000, 1000, size=(4, 3), dtype=np.int32)
    result = client.infer(
        "add_mul",
        [tensor("a", a, "INT32", binary_in), tensor("b", b, "INT32", binary_in)],
        outputs=_outputs(["sum", "product"], binary_out),
    )
    expected = run_in_process(repository / "add_mul" / "1", {"a": a, "b": b})
    for name in ("sum", "product"):
        _assert_output_form(result, name, binary_out)
        np.testing.assert_array_equal(result.as_numpy(name), expected[name])
        assert result.as_numpy(name).dtype == np.int32
    np.testing.assert_array_equal(result.as_numpy("product"), a * b)


def test_fixed_ir_matches_openvino(client: httpclient.InferenceServerClient, repository: Path) -> None:
    data = RNG.normal(size=(1, 3, 2, 2)).astype(np.float32)
    result = client.infer("fixed", [tensor("input", data, "FP32")])
    expected = run_in_process(repository / "fixed" / "1", {"input": data})
    np.testing.assert_array_equal(result.as_numpy("out"), expected["out"])
    assert result.get_output("out")["shape"] == [1, 3, 2, 2]


@pytest.mark.parametrize(("binary_in", "binary_out"), FORMATS)
def test_echo_bytes_round_trip(
    client: httpclient.InferenceServerClient, binary_in: bool, binary_out: bool
) -> None:
    words = np.array([b"hello", "w\u00f6rld".encode(), b"", b"a longer sentence"], dtype=np.object_)
    result = client.infer(
        "echo", [tensor("text", words, "BYTES", binary_in)], outputs=_outputs(["echo_string"], binary_out)
    )
    output = result.get_output("echo_string")
    assert (output["datatype"], output["shape"]) == ("BYTES", [4])
    _assert_output_form(result, "echo_string", binary_out)
    assert [
        bytes(w) if not isinstance(w, str) else w.encode() for w in result.as_numpy("echo_string")
    ] == list(words)


@pytest.mark.parametrize("version", ["1", "2"])
def test_explicit_version_is_served(client: httpclient.InferenceServerClient, version: str) -> None:
    data = affine_input()
    result = client.infer("affine", [tensor("input", data, "FP32")], model_version=version)
    response = result.get_response()
    assert (response["model_name"], response["model_version"]) == ("affine", version)
    np.testing.assert_allclose(result.as_numpy("scaled"), data * 2 + 1, rtol=1e-6)


def test_default_version_is_the_highest(client: httpclient.InferenceServerClient) -> None:
    result = client.infer("affine", [tensor("input", affine_input(), "FP32")], request_id="req-9")
    assert result.get_response()["model_version"] == "2"
    assert result.get_response()["id"] == "req-9"


@pytest.mark.parametrize("binary", [True, False])
def test_requested_outputs_select_outputs(client: httpclient.InferenceServerClient, binary: bool) -> None:
    data = affine_input()
    result = client.infer("affine", [tensor("input", data, "FP32")], outputs=_outputs(["total"], binary))
    assert [o["name"] for o in result.get_response()["outputs"]] == ["total"]
    np.testing.assert_allclose(result.as_numpy("total"), data.sum(axis=1), rtol=1e-5)
    assert result.as_numpy("scaled") is None


def test_no_requested_outputs_returns_all(client: httpclient.InferenceServerClient) -> None:
    data = affine_input()
    result = client.infer("affine", [tensor("input", data, "FP32", binary=False)])
    assert [o["name"] for o in result.get_response()["outputs"]] == ["scaled", "total"]
    np.testing.assert_allclose(result.as_numpy("scaled"), data * 2 + 1, rtol=1e-6)


def test_mixed_binary_and_json_outputs(client: httpclient.InferenceServerClient) -> None:
    data = affine_input()
    outputs = [
        httpclient.InferRequestedOutput("scaled", binary_data=True),
        httpclient.InferRequestedOutput("total", binary_data=False),
    ]
    result = client.infer("affine", [tensor("input", data, "FP32")], outputs=outputs)
    _assert_output_form(result, "scaled", binary=True)
    _assert_output_form(result, "total", binary=False)
    np.testing.assert_allclose(result.as_numpy("scaled"), data * 2 + 1, rtol=1e-6)
    np.testing.assert_allclose(result.as_numpy("total"), data.sum(axis=1), rtol=1e-5)


# --- plain HTTP, as curl would send it -------------------------------------------------------------


def test_plain_json_request_and_exact_response(http: httpx.Client) -> None:
    body = '{"id": "abc", "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [[1, 2, 3, 4], [0.5, -1, 0, 10]]}]}'
    answer = http.post(
        "/v2/models/affine/infer", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert HEADER.lower() not in answer.headers
    document = answer.json()
    assert list(document) == ["model_name", "id", "model_version", "outputs"]
    assert document == {
        "model_name": "affine",
        "id": "abc",
        "model_version": "2",
        "outputs": [
            {
                "name": "scaled",
                "datatype": "FP32",
                "shape": [2, 4],
                "data": [3.0, 5.0, 7.0, 9.0, 2.0, -1.0, 1.0, 21.0],
            },
            {"name": "total", "datatype": "FP32", "shape": [2], "data": [10.0, 9.5]},
        ],
    }
    for output in document["outputs"]:
        assert set(output) == {"name", "datatype", "shape", "data"}


def test_plain_json_without_id_has_no_id(http: httpx.Client) -> None:
    answer = http.post(
        "/v2/models/affine/versions/1/infer",
        json={"inputs": [fp32_input([1, 4], [0, 0, 0, 0])], "outputs": [{"name": "scaled"}]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "model_name": "affine",
        "model_version": "1",
        "outputs": [{"name": "scaled", "datatype": "FP32", "shape": [1, 4], "data": [1.0, 1.0, 1.0, 1.0]}],
    }


def test_plain_json_int_and_bytes(http: httpx.Client) -> None:
    body = {
        "inputs": [
            {"name": "a", "shape": [1, 3], "datatype": "INT32", "data": [1, 2, 3]},
            {"name": "b", "shape": [1, 3], "datatype": "INT32", "data": [4, -5, 6]},
        ]
    }
    answer = http.post("/v2/models/add_mul/infer", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"] == [
        {"name": "sum", "datatype": "INT32", "shape": [1, 3], "data": [5, -3, 9]},
        {"name": "product", "datatype": "INT32", "shape": [1, 3], "data": [4, -10, 18]},
    ]
    strings = {
        "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["hi", "d\u00e9j\u00e0 vu"]}]
    }
    answer = http.post("/v2/models/echo/infer", json=strings)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"] == [
        {"name": "echo_string", "datatype": "BYTES", "shape": [2], "data": ["hi", "d\u00e9j\u00e0 vu"]}
    ]


def _split(answer: httpx.Response) -> tuple[dict[str, Any], bytes]:
    length = int(answer.headers[HEADER])
    return json.loads(answer.content[:length]), answer.content[length:]


def test_plain_binary_request_and_binary_response(http: httpx.Client) -> None:
    data = affine_input(2)
    header = json.dumps(
        {
            "inputs": [
                {"name": "input", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": 32}}
            ],
            "outputs": [{"name": "scaled", "parameters": {"binary_data": True}}, {"name": "total"}],
        }
    ).encode()
    answer = http.post(
        "/v2/models/affine/infer",
        content=header + data.tobytes(),
        headers={HEADER: str(len(header)), "Content-Type": "application/octet-stream"},
    )
    assert answer.status_code == 200, answer.text
    document, tail = _split(answer)
    assert document["outputs"][0] == {
        "name": "scaled",
        "datatype": "FP32",
        "shape": [2, 4],
        "parameters": {"binary_data_size": 32},
    }
    np.testing.assert_array_equal(np.frombuffer(tail, np.float32).reshape(2, 4), data * 2 + 1)
    total = document["outputs"][1]
    assert (total["name"], total["shape"]) == ("total", [2])
    np.testing.assert_allclose(total["data"], data.sum(axis=1), rtol=1e-5)


def test_plain_binary_without_sizes_uses_shapes(http: httpx.Client) -> None:
    """Inputs with neither ``data`` nor ``binary_data_size`` take ``prod(shape) * itemsize`` bytes each."""
    a = np.array([[1, 2, 3]], np.int32)
    b = np.array([[10, 20, 30]], np.int32)
    header = json.dumps(
        {
            "inputs": [
                {"name": "a", "shape": [1, 3], "datatype": "INT32"},
                {"name": "b", "shape": [1, 3], "datatype": "INT32"},
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    answer = http.post(
        "/v2/models/add_mul/infer",
        content=header + a.tobytes() + b.tobytes(),
        headers={HEADER: str(len(header))},
    )
    assert answer.status_code == 200, answer.text
    document, tail = _split(answer)
    sizes = [o["parameters"]["binary_data_size"] for o in document["outputs"]]
    assert [o["name"] for o in document["outputs"]] == ["sum", "product"]
    assert sizes == [12, 12] and len(tail) == 24
    np.testing.assert_array_equal(np.frombuffer(tail[:12], np.int32), [11, 22, 33])
    np.testing.assert_array_equal(np.frombuffer(tail[12:], np.int32), [10, 40, 90])


def test_plain_binary_bytes_round_trip(http: httpx.Client) -> None:
    words = [b"one", b"", "dr\u00fcben".encode()]
    payload = b"".join(struct.pack("<I", len(w)) + w for w in words)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "text",
                    "shape": [3],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(payload)},
                }
            ],
            "outputs": [{"name": "echo_string", "parameters": {"binary_data": True}}],
        }
    ).encode()
    answer = http.post("/v2/models/echo/infer", content=header + payload, headers={HEADER: str(len(header))})
    assert answer.status_code == 200, answer.text
    document, tail = _split(answer)
    assert document["outputs"] == [
        {
            "name": "echo_string",
            "datatype": "BYTES",
            "shape": [3],
            "parameters": {"binary_data_size": len(payload)},
        }
    ]
    assert tail == payload


# --- errors ----------------------------------------------------------------------------------------

GOOD = fp32_input([2, 4], [1.0] * 8)

JSON_ERROR_CASES: dict[str, tuple[str, Any, int, str]] = {
    "wrong shape": (
        "affine",
        infer_body(fp32_input([2, 3], [1.0] * 6)),
        400,
        "Invalid input shape - Expected: (-1,4); Actual: (2,3); input name: input",
    ),
    "wrong rank": (
        "affine",
        infer_body(fp32_input([8], [1.0] * 8)),
        400,
        "Invalid number of shape dimensions - Expected: (-1,4); Actual: (8); input name: input",
    ),
    "wrong batch on a fixed model": (
        "fixed",
        infer_body(fp32_input([2, 3, 2, 2], [1.0] * 24)),
        400,
        "Invalid input batch size - Expected: 1; Actual: 2; input name: input",
    ),
    "wrong dtype": (
        "affine",
        infer_body({"name": "input", "shape": [2, 4], "datatype": "INT32", "data": [1] * 8}),
        400,
        "Invalid input precision - Expected: FP32; Actual: INT32; input name: input",
    ),
    "missing input": (
        "add_mul",
        infer_body({"name": "b", "shape": [1, 3], "datatype": "INT32", "data": [1, 2, 3]}),
        400,
        "Invalid number of inputs - Expected: 2; Actual: 1",
    ),
    "an output asked twice": (
        "affine",
        infer_body(GOOD, outputs=[{"name": "total"}, {"name": "total"}]),
        400,
        "Duplicate output in request - output name: total",
    ),
    "misnamed input": (
        "affine",
        infer_body(fp32_input([2, 4], [1.0] * 8, name="inputs")),
        400,
        "Missing input with specific name - Required input: input",
    ),
    "extra input": (
        "affine",
        {"inputs": [GOOD, fp32_input([1], [1.0], name="extra")]},
        400,
        "Invalid number of inputs - Expected: 1; Actual: 2",
    ),
    "too few values": (
        "affine",
        infer_body(fp32_input([2, 4], [1.0] * 7)),
        400,
        "Invalid number of values in tensor proto container - Expected: 8 values; Actual: 7 values; input name: input",
    ),
    "too many values": (
        "affine",
        infer_body(fp32_input([2, 4], [1.0] * 9)),
        400,
        "Invalid number of values in tensor proto container - Expected: 8 values; Actual: 9 values",
    ),
    "missing inputs": ("affine", {"id": "1"}, 400, "Invalid JSON structure, missing inputs"),
    "empty inputs": ("affine", {"inputs": []}, 400, "Invalid JSON structure, missing inputs"),
    "unknown output": (
        "affine",
        infer_body(GOOD, outputs=[{"name": "nope"}]),
        400,
        "Missing output with specific name - Requested output: nope",
    ),
    "unknown model": ("no_such_model", infer_body(GOOD), 404, "Model with requested name is not found"),
    "unknown version": (
        "affine/versions/3",
        infer_body(GOOD),
        404,
        "Model with requested version is not found",
    ),
    "broken model": ("broken", infer_body(GOOD), 404, "Model with requested version is not found"),
}


@pytest.mark.parametrize("case", list(JSON_ERROR_CASES))
def test_invalid_json_request_is_rejected_and_server_survives(
    server: ServerProcess, http: httpx.Client, case: str
) -> None:
    model, body, status, message = JSON_ERROR_CASES[case]
    answer = http.post(f"/v2/models/{model}/infer", json=body)
    assert answer.status_code == status, answer.text
    assert list(answer.json()) == ["error"]
    assert answer.json()["error"].startswith(message), answer.json()
    assert_server_healthy(server, http)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"inputs": [{"name": "input"', "Request body is not valid JSON"),
        (b"not json at all", "Request body is not valid JSON"),
        (b"", "Request body is not valid JSON"),
        (b"[1, 2]", "Request body should be JSON object"),
    ],
)
def test_malformed_body_is_400(
    server: ServerProcess, http: httpx.Client, content: bytes, message: str
) -> None:
    answer = http.post("/v2/models/affine/infer", content=content)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(message)
    assert_server_healthy(server, http)


@pytest.mark.parametrize("header_value", ["abc", "-5", "100000", "1.5"])
def test_bad_binary_header_length_is_400(
    server: ServerProcess, http: httpx.Client, header_value: str
) -> None:
    body = json.dumps(infer_body(GOOD)).encode()
    answer = http.post("/v2/models/affine/infer", content=body, headers={HEADER: header_value})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error.startswith(f"{HEADER} header is invalid and couldn't be parsed"), error
    assert "expected" in error
    assert_server_healthy(server, http)


def test_binary_data_shorter_than_declared_is_400(server: ServerProcess, http: httpx.Client) -> None:
    header = json.dumps(
        {
            "inputs": [
                {"name": "input", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": 32}}
            ]
        }
    ).encode()
    answer = http.post(
        "/v2/models/affine/infer", content=header + bytes(16), headers={HEADER: str(len(header))}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(
        "Received buffer size is smaller than binary_data_size parameter indicates"
    )
    assert_server_healthy(server, http)


def test_binary_data_size_not_matching_shape_is_400(server: ServerProcess, http: httpx.Client) -> None:
    header = json.dumps(
        {
            "inputs": [
                {"name": "input", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": 28}}
            ]
        }
    ).encode()
    answer = http.post(
        "/v2/models/affine/infer", content=header + bytes(28), headers={HEADER: str(len(header))}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == (
        "Invalid content size of tensor proto - Expected: 32 bytes; Actual: 28 bytes; input name: input"
    )
    assert_server_healthy(server, http)


def test_tritonclient_reports_errors_with_status(
    server: ServerProcess, client: httpclient.InferenceServerClient, http: httpx.Client
) -> None:
    with pytest.raises(InferenceServerException) as raised:
        client.infer("affine", [tensor("input", np.ones((2, 3), np.float32), "FP32")])
    assert raised.value.status() == "400"
    assert "Expected: (-1,4)" in raised.value.message()
    with pytest.raises(InferenceServerException) as raised:
        client.infer("broken", [tensor("input", np.ones((2, 4), np.float32), "FP32")])
    assert raised.value.status() == "404"
    assert_server_healthy(server, http)


# --- concurrency -----------------------------------------------------------------------------------


def _distinct_input(index: int) -> np.ndarray:
    return np.full((index % 5 + 1, 4), index, np.float32) - np.arange(4, dtype=np.float32)


def test_fifty_concurrent_tritonclient_requests(server: ServerProcess, http: httpx.Client) -> None:
    count = 50
    inputs = {index: _distinct_input(index) for index in range(count)}
    triton = httpclient.InferenceServerClient(server.rest_url, concurrency=16)
    try:
        pending = {
            index: triton.async_infer(
                "affine",
                [tensor("input", data, "FP32", binary=bool(index % 2))],
                request_id=str(index),
                model_version="1" if index % 3 == 0 else "",
            )
            for index, data in inputs.items()
        }
        for index, request in pending.items():
            result = request.get_result(timeout=60)
            assert result.get_response()["id"] == str(index)
            assert result.get_response()["model_version"] == ("1" if index % 3 == 0 else "2")
            np.testing.assert_array_equal(result.as_numpy("scaled"), inputs[index] * 2 + 1)
            np.testing.assert_array_equal(result.as_numpy("total"), inputs[index].sum(axis=1))
    finally:
        triton.close()
    assert_server_healthy(server, http)


def test_fifty_concurrent_plain_requests_in_threads(server: ServerProcess, http: httpx.Client) -> None:
    def call(index: int) -> tuple[int, dict[str, Any]]:
        a = np.full((1, 3), index, np.int32)
        body = {
            "id": f"r{index}",
            "inputs": [
                {"name": "a", "shape": [1, 3], "datatype": "INT32", "data": a.ravel().tolist()},
                {"name": "b", "shape": [1, 3], "datatype": "INT32", "data": [1, 2, 3]},
            ],
        }
        with httpx.Client(base_url=f"http://{server.rest_url}", timeout=60) as session:
            answer = session.post("/v2/models/add_mul/infer", json=body)
        assert answer.status_code == 200, answer.text
        return index, answer.json()

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(call, range(50)))
    assert len(results) == 50
    for index, document in results:
        assert document["id"] == f"r{index}"
        outputs = {o["name"]: o["data"] for o in document["outputs"]}
        assert outputs == {
            "sum": [index + 1, index + 2, index + 3],
            "product": [index, 2 * index, 3 * index],
        }
    assert_server_healthy(server, http)
