"""DAG pipelines served by a real ``ovms serve`` process, called with real clients (issue 13).

tritonclient over gRPC and HTTP (binary), ovmsclient over gRPC and REST, httpx for status codes.
The models are built with the opset API; the C custom nodes are compiled with gcc by the test.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import openvino as ov
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from builders import fixed_batch_model, write_ir
from pipeline_builders import add_model, compile_c_node, relu_batched_model, square_model
from pipeline_configs import connect, node
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

if TYPE_CHECKING:
    from server_process import ServerProcess

PYTHON_NODES = Path(__file__).parents[1] / "pipeline_python_nodes.py"
X = (np.arange(12, dtype=np.float32).reshape(3, 4) - 5) / 2
IMAGE = (np.arange(3 * 5 * 6, dtype=np.float32).reshape(1, 3, 5, 6) - 40) / 7


def pipeline(name: str, inputs: list[str], nodes: list[dict[str, Any]], **outputs: str) -> dict[str, Any]:
    return {"name": name, "inputs": inputs, "nodes": nodes, "outputs": connect(**outputs)}


CHAIN = pipeline(
    "chain",
    ["x"],
    [
        node("sq", "DL model", {"x": "request.x"}, {"y": "squared"}, target="square"),
        node("plus", "DL model", {"a": "sq.squared", "b": "request.x"}, {"sum": "total"}, target="add"),
    ],
    result="plus.total",
)
BRANCHES = pipeline(  # two Python nodes that only finish if they run at the same time, then a model
    "branches",
    ["x"],
    [
        node(
            "left",
            "python",
            {"x": "request.x"},
            {"y": "y"},
            params={"group": "lr", "parties": "2"},
            target="nodes.py:Rendezvous",
        ),
        node(
            "right",
            "python",
            {"x": "request.x"},
            {"y": "y"},
            params={"group": "lr", "parties": "2"},
            target="nodes.py:Rendezvous",
        ),
        node("join", "DL model", {"a": "left.y", "b": "right.y"}, {"sum": "total"}, target="add"),
    ],
    result="join.total",
)
CROPS = pipeline(  # demultiply (dynamic) → model per crop → gathered at response
    "crops",
    ["image", "boxes"],
    [
        node(
            "crop",
            "custom",
            {"image": "request.image", "boxes": "request.boxes"},
            {"crops": "crop", "origins": "xy"},
            params={"width": "2", "height": "2"},
            demultiply_count=-1,
            target="crops",
        ),
        node("relu", "DL model", {"input": "crop.crop"}, {"out": "out"}, target="relu"),
        node(
            "scale",
            "python",
            {"x": "relu.out"},
            {"scaled": "scaled"},
            params={"factor": "2"},
            target="nodes.py:Scale",
        ),
    ],
    relu="scale.scaled",
    origins="crop.xy",
)
ENTRY_DEMUX = pipeline(
    "batch_of_images",
    ["x"],
    [node("relu", "DL model", {"input": "request.x"}, {"out": "out"}, target="relu")],
    out="relu.out",
) | {"demultiply_count": -1}
CUSTOM = pipeline(
    "custom",
    ["x"],
    [
        node(
            "affine",
            "custom",
            {"a": "request.x"},
            {"result": "r"},
            params={"add": "1", "multiply": "2"},
            target="add_mul",
        ),
        node("sq", "DL model", {"x": "affine.r"}, {"y": "y"}, target="square"),
    ],
    y="sq.y",
)
ADD_ONE = pipeline(
    "add_one",
    ["input_numbers"],
    [
        node(
            "add_one",
            "custom",
            {"input_numbers": "request.input_numbers"},
            {"output_numbers": "out"},
            params={"add_number": "5", "sub_number": "2"},
            target="add_one",
        )
    ],
    output_numbers="add_one.out",
)
FAILING = pipeline(
    "failing",
    ["x"],
    [
        node("sq", "DL model", {"x": "request.x"}, {"y": "y"}, target="square"),
        node(
            "broken_node",
            "custom",
            {"a": "sq.y"},
            {"result": "r"},
            params={"fail": "execute"},
            target="add_mul",
        ),
    ],
    y="broken_node.r",
)
PYTHON = pipeline(
    "python",
    ["x"],
    [
        node(
            "scale",
            "python",
            {"x": "request.x"},
            {"scaled": "s"},
            params={"factor": "3"},
            target="nodes.py:Scale",
        ),
        node("sq", "DL model", {"x": "scale.s"}, {"y": "y"}, target="square"),
    ],
    y="sq.y",
)
GHOST = pipeline(
    "ghost", ["x"], [node("g", "DL model", {"x": "request.x"}, {"y": "y"}, target="no_such_model")], y="g.y"
)
CLASH = pipeline(
    "square",
    ["x"],
    [node("g", "DL model", {"a": "request.x", "b": "request.x"}, {"sum": "y"}, target="add")],
    y="g.y",
)


def write_repository(root: Path) -> Path:
    write_ir(square_model(), root / "square")
    write_ir(add_model(), root / "add")
    write_ir(fixed_batch_model(), root / "relu")
    write_ir(relu_batched_model(), root / "relu_batched")
    shutil.copy(PYTHON_NODES, root / "nodes.py")
    libs = root / "libs"
    libs.mkdir()
    for name in ("add_mul", "crops", "add_one"):
        compile_c_node(name, libs)
    return root


def config_document(pipelines: list[dict[str, Any]]) -> dict[str, Any]:
    models = [
        {"name": "square", "base_path": "square"},
        {"name": "add", "base_path": "add"},
        {"name": "relu", "base_path": "relu"},
        {"name": "relu_batched", "base_path": "relu_batched", "dynamic_batching": {"max_batch_size": 8}},
    ]
    return {
        "model_config_list": [{"config": m} for m in models],
        "custom_node_library_config_list": [
            {"name": name, "base_path": f"libs/lib{name}.so"} for name in ("add_mul", "crops", "add_one")
        ],
        "pipeline_config_list": pipelines,
    }


ALL = [CHAIN, BRANCHES, CROPS, ENTRY_DEMUX, CUSTOM, ADD_ONE, FAILING, PYTHON, GHOST, CLASH]


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, server_factory: Callable[..., ServerProcess]
) -> Iterator[ServerProcess]:
    root = write_repository(tmp_path_factory.mktemp("pipelines"))
    (root / "config.json").write_text(json.dumps(config_document(ALL), indent=2))
    log = root / "ovms.log"
    running = server_factory(
        ["--config_path", str(root / "config.json"), "--metrics_enable", "--log_level", "DEBUG"], log
    )
    yield running
    assert running.stop() == 0, running.log_text()


@pytest.fixture(scope="module")
def triton_grpc(served: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    with grpcclient.InferenceServerClient(served.grpc_url) as client:
        yield client


@pytest.fixture(scope="module")
def triton_http(served: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(served.rest_url)
    yield client
    client.close()


def in_process(model: ov.Model, inputs: dict[str, np.ndarray]) -> np.ndarray:
    compiled = ov.Core().compile_model(model, "CPU")
    return np.asarray(compiled(inputs)[0])


def grpc_infer(
    client: grpcclient.InferenceServerClient, name: str, **inputs: np.ndarray
) -> grpcclient.InferResult:
    return client.infer(name, [_input(grpcclient, key, array) for key, array in inputs.items()])


def http_infer(
    client: httpclient.InferenceServerClient, name: str, **inputs: np.ndarray
) -> httpclient.InferResult:
    """Inputs and outputs as binary data (tritonclient.http's default for numpy tensors)."""
    return client.infer(name, [_input(httpclient, key, array) for key, array in inputs.items()])


def _input(module: Any, name: str, array: np.ndarray) -> Any:
    tensor = module.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
    tensor.set_data_from_numpy(array)
    return tensor


# ---- results against the same models run in-process ---------------------------------------------


def test_two_model_chain_equals_the_models_chained_in_process(
    triton_grpc: grpcclient.InferenceServerClient,
    triton_http: httpclient.InferenceServerClient,
    served: ServerProcess,
) -> None:
    squared = in_process(square_model(), {"x": X})
    expected = in_process(add_model(), {"a": squared, "b": X})
    np.testing.assert_array_equal(grpc_infer(triton_grpc, "chain", x=X).as_numpy("result"), expected)
    np.testing.assert_array_equal(http_infer(triton_http, "chain", x=X).as_numpy("result"), expected)
    tfs_grpc = ovmsclient.make_grpc_client(served.grpc_url)
    tfs_rest = ovmsclient.make_http_client(served.rest_url)
    np.testing.assert_array_equal(tfs_grpc.predict({"x": X}, "chain"), expected)
    np.testing.assert_array_equal(tfs_rest.predict({"x": X}, "chain"), expected)


def test_parallel_branches_run_concurrently(triton_grpc: grpcclient.InferenceServerClient) -> None:
    """Each branch's Python node waits (20 s at most) for the other to run at the same time."""
    np.testing.assert_array_equal(grpc_infer(triton_grpc, "branches", x=X).as_numpy("result"), X + X)


def test_demultiply_model_gather_with_a_c_node(
    triton_grpc: grpcclient.InferenceServerClient, triton_http: httpclient.InferenceServerClient
) -> None:
    boxes = np.array([[0, 0], [4, 3], [2, 1]], np.int32)
    for result in (
        grpc_infer(triton_grpc, "crops", image=IMAGE, boxes=boxes),
        http_infer(triton_http, "crops", image=IMAGE, boxes=boxes),
    ):
        relu = result.as_numpy("relu")
        assert relu.shape == (3, 1, 3, 2, 2)
        for k, (x, y) in enumerate(boxes):
            expected = (
                in_process(fixed_batch_model(), {"input": IMAGE[:, :, y : y + 2, x : x + 2].copy()}) * 2
            )
            np.testing.assert_array_equal(relu[k], expected)
        np.testing.assert_array_equal(result.as_numpy("origins"), boxes.reshape(3, 1, 2))
    # dynamic -1: another number of crops in the same pipeline
    two = grpc_infer(triton_grpc, "crops", image=IMAGE, boxes=boxes[:2])
    assert two.as_numpy("relu").shape == (2, 1, 3, 2, 2)


def test_entry_demultiplexing_sends_each_image_through_the_model(
    triton_grpc: grpcclient.InferenceServerClient,
) -> None:
    images = (np.arange(4 * 12, dtype=np.float32).reshape(4, 1, 3, 2, 2) - 20) / 3
    result = grpc_infer(triton_grpc, "batch_of_images", x=images).as_numpy("out")
    np.testing.assert_array_equal(result, np.maximum(images, 0))
    metadata = triton_grpc.get_model_metadata("batch_of_images", as_json=True)
    assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": ["-1", "1", "3", "2", "2"]}]


def test_c_custom_node_between_request_and_model(triton_http: httpclient.InferenceServerClient) -> None:
    np.testing.assert_array_equal(http_infer(triton_http, "custom", x=X).as_numpy("y"), ((X + 1) * 2) ** 2)


def test_ovms_add_one_sample_node(served: ServerProcess) -> None:
    numbers = np.arange(10, dtype=np.float32).reshape(1, 10)
    client = ovmsclient.make_grpc_client(served.grpc_url)
    np.testing.assert_array_equal(client.predict({"input_numbers": numbers}, "add_one"), numbers + 5 - 2)


def test_python_node_pipeline(served: ServerProcess) -> None:
    client = ovmsclient.make_http_client(served.rest_url)
    np.testing.assert_allclose(client.predict({"x": X}, "python"), (X * 3) ** 2)


@pytest.mark.parametrize("body", [{"instances": X.tolist()}, {"inputs": X.tolist()}], ids=["row", "column"])
def test_tfs_rest_values_without_a_name_go_to_the_only_input_even_when_untyped(
    served: ServerProcess, body: dict[str, Any]
) -> None:
    # "python"'s one input is read only by a Python node, so its metadata has no type (DT_INVALID).
    answer = httpx.post(f"http://{served.rest_url}/v1/models/python:predict", json=body, timeout=30)

    assert answer.status_code == 200, answer.text
    key = "predictions" if "instances" in body else "outputs"
    np.testing.assert_allclose(np.array(answer.json()[key], dtype=np.float32), (X * 3) ** 2)


# ---- metadata, status, readiness ---------------------------------------------------------------


def test_metadata_status_and_readiness(
    triton_grpc: grpcclient.InferenceServerClient,
    triton_http: httpclient.InferenceServerClient,
    served: ServerProcess,
) -> None:
    metadata = triton_http.get_model_metadata("chain")
    assert metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert metadata["outputs"] == [{"name": "result", "datatype": "FP32", "shape": [-1, 4]}]
    crops = triton_grpc.get_model_metadata("crops", as_json=True)
    assert crops["outputs"] == [
        {"name": "relu", "datatype": "INVALID"},  # made by a Python node, which declares nothing (§8.4)
        {"name": "origins", "datatype": "INT32", "shape": ["-1", "1", "2"]},
    ]
    assert triton_grpc.is_model_ready("chain") and triton_http.is_model_ready("chain")
    assert triton_grpc.is_model_ready("chain", "7")  # pipelines are unversioned (spec §8.2)
    tfs = ovmsclient.make_grpc_client(served.grpc_url)
    assert tfs.get_model_status("chain") == {
        1: {"state": "AVAILABLE", "error_code": 0, "error_message": "OK"}
    }
    relu = tfs.get_model_metadata("crops")["outputs"]["relu"]  # made by a Python node: no declared type
    assert relu["dtype"] == "DT_INVALID"
    assert ovmsclient.make_http_client(served.rest_url).get_model_metadata("crops")["outputs"]["relu"] == relu
    assert tfs.get_model_metadata("add_one") == {
        "model_version": 1,
        "inputs": {"input_numbers": {"shape": [1, 10], "dtype": "DT_FLOAT"}},
        "outputs": {"output_numbers": {"shape": [1, 10], "dtype": "DT_FLOAT"}},
    }


def test_statistics_of_a_pipeline_count_its_requests_as_an_ensemble(
    triton_grpc: grpcclient.InferenceServerClient, triton_http: httpclient.InferenceServerClient
) -> None:
    def stats() -> dict[str, Any]:
        found: dict[str, Any] = triton_http.get_inference_statistics("chain")["model_stats"][0]
        return found

    before = stats()
    grpc_infer(triton_grpc, "chain", x=X)
    http_infer(triton_http, "chain", x=X)
    with pytest.raises(InferenceServerException):
        grpc_infer(triton_grpc, "chain", x=X[:, :3].copy())  # [3, 3]: the pipeline takes [-1, 4]
    after = stats()

    def grown(field: str) -> int:
        return int(after["inference_stats"][field].get("count", 0)) - int(
            before["inference_stats"][field].get("count", 0)
        )

    assert (grown("success"), grown("fail"), grown("compute_infer")) == (2, 1, 2)
    assert int(after["execution_count"]) - int(before.get("execution_count", 0)) == 2
    assert int(after["inference_count"]) - int(before.get("inference_count", 0)) == 2
    assert int(after["inference_stats"]["success"]["ns"]) > int(
        before["inference_stats"]["success"].get("ns", 0)
    )
    assert int(after["last_inference"]) > 0
    grpc_entry = triton_grpc.get_inference_statistics("chain", as_json=True)["model_stats"][0]
    assert int(grpc_entry["inference_stats"]["success"]["count"]) == int(
        after["inference_stats"]["success"]["count"]
    )


def test_model_config_of_a_pipeline_is_an_ensemble(
    triton_grpc: grpcclient.InferenceServerClient, triton_http: httpclient.InferenceServerClient
) -> None:
    from_grpc = triton_grpc.get_model_config("chain", as_json=True)["config"]
    from_http = triton_http.get_model_config("chain")
    for config in (from_grpc, from_http):
        assert config["name"] == "chain"
        assert config["platform"] == "ensemble"
        assert config["version_policy"] == {"specific": {"versions": ["1"] if config is from_grpc else [1]}}
        assert [(t["name"], t["data_type"]) for t in config["input"]] == [("x", "TYPE_FP32")]
        assert [(t["name"], t["data_type"]) for t in config["output"]] == [("result", "TYPE_FP32")]
        assert "instance_group" not in config


def test_an_invalid_pipeline_is_unavailable_with_its_reason_and_the_rest_serves(
    triton_grpc: grpcclient.InferenceServerClient, served: ServerProcess
) -> None:
    status = httpx.get(f"http://{served.rest_url}/v1/models/ghost", timeout=10).json()
    (version,) = status["model_version_status"]
    assert (version["version"], version["state"]) == ("1", "LOADING")
    assert version["status"]["error_code"] == "FAILED_PRECONDITION"
    assert (
        "Pipeline definition has reference to missing model - node: g; model: no_such_model"
        in version["status"]["error_message"]
    )
    assert not triton_grpc.is_model_ready("ghost")
    with pytest.raises(InferenceServerException) as refused:
        grpc_infer(triton_grpc, "ghost", x=X)
    assert refused.value.status() == "StatusCode.UNAVAILABLE"
    assert "Pipeline is not loaded yet" in str(refused.value)
    assert grpc_infer(triton_grpc, "chain", x=X).as_numpy("result") is not None


def test_a_pipeline_named_like_a_model_is_refused_and_the_model_serves(
    triton_grpc: grpcclient.InferenceServerClient, served: ServerProcess
) -> None:
    np.testing.assert_array_equal(grpc_infer(triton_grpc, "square", x=X).as_numpy("y"), X * X)
    assert "Pipeline has the same name as model - name: square" in served.log_text()


# ---- errors --------------------------------------------------------------------------------------


def test_bad_input_to_a_pipeline_is_400_and_invalid_argument(
    triton_grpc: grpcclient.InferenceServerClient, served: ServerProcess
) -> None:
    with pytest.raises(InferenceServerException) as wrong_type:
        grpc_infer(triton_grpc, "chain", x=X.astype(np.float64))
    assert wrong_type.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "Invalid input precision - Expected: FP32; Actual: FP64; input name: x" in str(wrong_type.value)
    body = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}]}
    response = httpx.post(f"http://{served.rest_url}/v2/models/chain/infer", json=body, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid input shape - Expected: (-1,4); Actual: (2,3); input name: x"
    two = {"inputs": [body["inputs"][0], {**body["inputs"][0], "name": "z"}]}
    extra = httpx.post(f"http://{served.rest_url}/v2/models/custom/infer", json=two, timeout=10)
    assert (extra.status_code, extra.json()["error"]) == (
        400,
        "Invalid number of inputs - Expected: 1; Actual: 2",
    )


def test_a_failing_node_library_is_500_and_internal_naming_the_node(
    triton_grpc: grpcclient.InferenceServerClient, served: ServerProcess
) -> None:
    with pytest.raises(InferenceServerException) as failed:
        grpc_infer(triton_grpc, "failing", x=X)
    assert failed.value.status() == "StatusCode.INTERNAL"
    assert "Custom node failed during execution - node: broken_node; library: add_mul; code: 7" in str(
        failed.value
    )
    body = {"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP32", "data": X.ravel().tolist()}]}
    response = httpx.post(f"http://{served.rest_url}/v2/models/failing/infer", json=body, timeout=10)
    assert response.status_code == 500
    assert "node: broken_node" in response.json()["error"]
    np.testing.assert_array_equal(grpc_infer(triton_grpc, "chain", x=X).as_numpy("result"), X * X + X)


# ---- metrics -------------------------------------------------------------------------------------


def test_pipeline_metrics_are_ovms_request_families_only(
    triton_grpc: grpcclient.InferenceServerClient, served: ServerProcess
) -> None:
    def counted() -> float:
        text = httpx.get(f"http://{served.rest_url}/metrics", timeout=10).text
        line = 'ovms_requests_success{api="KServe",interface="gRPC",method="ModelInfer",name="python",version="1"}'
        found = re.search(re.escape(line) + r" (\d+)", text)
        assert found is not None, text
        return float(found.group(1))

    before = counted()
    for _ in range(3):
        grpc_infer(triton_grpc, "python", x=X)
    assert counted() - before == 3
    text = httpx.get(f"http://{served.rest_url}/metrics", timeout=10).text
    assert 'ovms_request_time_us_count{interface="gRPC",name="python",version="1"}' in text
    assert not re.search(r'ovms_(streams|current_requests|inference_time_us_count)\{name="python"', text)
    assert 'ovms_inference_time_us_count{name="square",version="1"}' in text  # DL nodes count on their model


def test_per_node_timing_is_logged_at_debug(
    triton_grpc: grpcclient.InferenceServerClient, served: ServerProcess
) -> None:
    grpc_infer(triton_grpc, "chain", x=X)
    assert re.search(r"pipeline node plus \(DL model add\) took [\d.]+ µs", served.log_text())


# ---- reload --------------------------------------------------------------------------------------


@pytest.fixture
def reloadable(tmp_path: Path, spawn_server: Callable[..., ServerProcess]) -> tuple[ServerProcess, Path]:
    root = write_repository(tmp_path / "repository")
    config = root / "config.json"
    config.write_text(json.dumps(config_document([CHAIN, PYTHON])))
    return spawn_server(["--config_path", str(config), "--file_system_poll_wait_seconds", "0"]), config


def reload(server: ServerProcess) -> httpx.Response:
    return httpx.post(f"http://{server.rest_url}/v1/config/reload", timeout=60)


def test_reload_while_requests_flow_fails_no_request(reloadable: tuple[ServerProcess, Path]) -> None:
    """A changed definition (factor 3 → 5) is swapped in while 4 clients keep sending."""
    server, config = reloadable
    stop = threading.Event()
    results: list[str] = []
    errors: list[BaseException] = []

    def send() -> None:
        with grpcclient.InferenceServerClient(server.grpc_url) as client:
            while not stop.is_set():
                try:
                    y = grpc_infer(client, "python", x=X).as_numpy("y")
                except BaseException as error:
                    errors.append(error)
                    return
                results.append(
                    "old"
                    if np.allclose(y, (X * 3) ** 2)
                    else "new"
                    if np.allclose(y, (X * 5) ** 2)
                    else "wrong"
                )

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    changed = json.loads(json.dumps(PYTHON))
    changed["nodes"][0]["params"]["factor"] = "5"
    config.write_text(json.dumps(config_document([CHAIN, changed])))
    assert reload(server).status_code == 201
    time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert "wrong" not in results
    assert results.count("old") > 0 and results.count("new") > 0, (results.count("old"), results.count("new"))
    assert results[-1] == "new"


def test_a_pipeline_follows_the_models_it_uses(reloadable: tuple[ServerProcess, Path]) -> None:
    server, config = reloadable
    status_url = f"http://{server.rest_url}/v1/models/chain"
    document = json.loads(config.read_text())
    without_add = dict(
        document, model_config_list=[m for m in document["model_config_list"] if m["config"]["name"] != "add"]
    )
    config.write_text(json.dumps(without_add))
    refused = reload(server)
    assert refused.status_code == 412
    assert (
        "Pipeline definition has reference to missing model - node: plus; model: add"
        in refused.json()["error"]
    )
    (version,) = httpx.get(status_url, timeout=10).json()["model_version_status"]
    assert (version["state"], version["status"]["error_code"]) == ("LOADING", "FAILED_PRECONDITION")
    with grpcclient.InferenceServerClient(server.grpc_url) as client:
        assert not client.is_model_ready("chain")
        np.testing.assert_allclose(grpc_infer(client, "python", x=X).as_numpy("y"), (X * 3) ** 2)
        config.write_text(json.dumps(document))
        assert reload(server).status_code == 201
        assert client.is_model_ready("chain")
        np.testing.assert_array_equal(grpc_infer(client, "chain", x=X).as_numpy("result"), X * X + X)


def test_a_pipeline_removed_from_the_config_is_retired(reloadable: tuple[ServerProcess, Path]) -> None:
    server, config = reloadable
    config.write_text(json.dumps(config_document([CHAIN])))
    assert reload(server).status_code == 201
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        (version,) = httpx.get(f"http://{server.rest_url}/v1/models/python", timeout=10).json()[
            "model_version_status"
        ]
        if version["state"] == "END":
            break
        time.sleep(0.1)
    assert version["state"] == "END"
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    response = httpx.post(f"http://{server.rest_url}/v2/models/python/infer", json=body, timeout=10)
    assert (response.status_code, response.json()["error"]) == (404, "Pipeline is retired - name: python")
