"""The model control API (KServe v2 repository extension) on a real server, with tritonclient over
gRPC and HTTP, httpx and curl: index, load, infer, unload under load, configs, refusals, API keys."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from builders import affine_model, write_ir
from deploy.readme import README, deploy_commands
from e2e.test_cli import EX_USAGE, free_port, ovms
from pipeline_builders import add_model, square_model
from pipeline_configs import WITHOUT_ADD, square_then_add
from server_process import ServerProcess, start_server
from tritonclient.utils import InferenceServerException

ROW = np.arange(4, dtype=np.float32).reshape(1, 4)
KEY = "control-key"
Spawn = Callable[..., ServerProcess]


@pytest.fixture(scope="module")
def control_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``affine`` and ``spare`` as folders; ``tuned`` only in config.json (beside, not under, the folder)."""
    root = tmp_path_factory.mktemp("control")
    models = root / "models"
    write_ir(affine_model(), models / "affine", 1)
    write_ir(affine_model(), models / "spare", 1)
    write_ir(affine_model(), root / "tuned_files", 3)
    entry = {"name": "tuned", "base_path": str(root / "tuned_files"), "nireq": 2}
    (root / "config.json").write_text(json.dumps({"model_config_list": [{"config": entry}]}))
    return root


@pytest.fixture(scope="module")
def explicit(control_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / "explicit.log"
    args = [
        "--model_repository_path",
        str(control_repository / "models"),
        "--config_path",
        str(control_repository / "config.json"),
        "--model_control_mode",
        "explicit",
        "--load_model",
        "spare",
    ]
    running = start_server(args, log)
    yield running
    assert running.stop() == 0, running.log_text()


def _grpc_input(data: np.ndarray = ROW) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data)
    return tensor


def _http_input(data: np.ndarray = ROW) -> httpclient.InferInput:
    tensor = httpclient.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data)
    return tensor


def _states(index: list[dict[str, str]], name: str) -> list[tuple[str, str, str]]:
    return [(m.get("version", ""), m["state"], m.get("reason", "")) for m in index if m["name"] == name]


def test_grpc_index_load_infer_unload(explicit: ServerProcess) -> None:
    with grpcclient.InferenceServerClient(explicit.grpc_url) as client:
        index = client.get_model_repository_index(as_json=True)["models"]
        assert _states(index, "spare") == [("1", "READY", "")]  # --load_model
        assert _states(index, "tuned") == [("", "UNAVAILABLE", "not loaded")]
        assert client.is_model_ready("spare") is True

        client.load_model("tuned")
        assert client.is_model_ready("tuned") is True
        result = client.infer("tuned", [_grpc_input()])
        np.testing.assert_array_equal(result.as_numpy("scaled"), ROW * 2 + 1)
        ready = client.get_model_repository_index(as_json=True)["models"]
        assert [m["name"] for m in ready if m["state"] == "READY"] == ["spare", "tuned"]

        client.unload_model("tuned")
        with pytest.raises(InferenceServerException) as gone:
            client.infer("tuned", [_grpc_input()])
        assert gone.value.status() == "StatusCode.NOT_FOUND"
        index = client.get_model_repository_index(as_json=True)["models"]
        assert _states(index, "tuned") == [("3", "UNAVAILABLE", "unloaded")]


def test_http_index_load_infer_unload(explicit: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(explicit.rest_url)
    try:
        client.load_model("affine")
        assert client.is_model_ready("affine") is True
        result = client.infer("affine", [_http_input()])
        np.testing.assert_array_equal(result.as_numpy("scaled"), ROW * 2 + 1)
        assert _states(client.get_model_repository_index(), "affine") == [("1", "READY", "")]

        client.unload_model("affine")
        with pytest.raises(InferenceServerException) as gone:
            client.infer("affine", [_http_input()])
        assert gone.value.status() == "404"
        assert _states(client.get_model_repository_index(), "affine") == [("1", "UNAVAILABLE", "unloaded")]
    finally:
        client.close()


def test_index_with_ready_lists_only_ready_models(explicit: ServerProcess) -> None:
    answer = httpx.post(f"http://{explicit.rest_url}/v2/repository/index", json={"ready": True})
    assert answer.status_code == 200, answer.text
    assert answer.json() == [{"name": "spare", "version": "1", "state": "READY"}]


class RequestStream:
    """Clients inferring in a loop until stopped: when each answered request started, when each
    NOT_FOUND came back, and every other failure."""

    def __init__(
        self, infer: Callable[[], None], not_found: Callable[[Exception], bool], clients: int
    ) -> None:
        self._infer, self._not_found = infer, not_found
        self.ok: list[float] = []
        self.not_found: list[float] = []
        self.other: list[Exception] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def __enter__(self) -> RequestStream:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                self._infer()
            except Exception as error:  # every outcome is counted and asserted on
                if self._not_found(error):
                    self.not_found.append(time.monotonic())
                else:
                    self.other.append(error)
            else:
                self.ok.append(sent)


def _unload_under_stream(
    server: ServerProcess,
    infer: Callable[[], None],
    not_found: Callable[[Exception], bool],
    unload: Callable[[], None],
) -> RequestStream:
    with grpcclient.InferenceServerClient(server.grpc_url) as control:
        control.load_model("affine")
    with RequestStream(infer, not_found, clients=4) as stream:
        while len(stream.ok) < 40:
            time.sleep(0.01)
        started = time.monotonic()
        unload()
        finished = time.monotonic()
        answered_before = len(stream.ok)
        while len(stream.not_found) < 20:
            time.sleep(0.01)
    assert stream.other == []
    assert answered_before >= 40
    assert all(t >= started for t in stream.not_found)  # no refusal before the unload began
    assert all(t <= finished for t in stream.ok)  # nothing sent after the unload returned was answered
    return stream


def test_grpc_unload_while_requests_stream(explicit: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(explicit.grpc_url)

    def infer() -> None:
        result = client.infer("affine", [_grpc_input()])
        np.testing.assert_array_equal(result.as_numpy("scaled"), ROW * 2 + 1)

    def not_found(error: Exception) -> bool:
        return isinstance(error, InferenceServerException) and error.status() == "StatusCode.NOT_FOUND"

    try:
        _unload_under_stream(explicit, infer, not_found, lambda: client.unload_model("affine"))
    finally:
        client.close()


def test_http_unload_while_requests_stream(explicit: ServerProcess) -> None:
    local = threading.local()
    clients: list[httpclient.InferenceServerClient] = []

    def infer() -> None:
        if not hasattr(local, "client"):  # one tritonclient.http client per thread
            local.client = httpclient.InferenceServerClient(explicit.rest_url)
            clients.append(local.client)
        result = local.client.infer("affine", [_http_input()])
        np.testing.assert_array_equal(result.as_numpy("scaled"), ROW * 2 + 1)

    def not_found(error: Exception) -> bool:
        return isinstance(error, InferenceServerException) and error.status() == "404"

    control = httpclient.InferenceServerClient(explicit.rest_url)
    try:
        _unload_under_stream(explicit, infer, not_found, lambda: control.unload_model("affine"))
    finally:
        for client in [control, *clients]:
            client.close()


def test_load_with_a_config_body_over_grpc_and_http(explicit: ServerProcess) -> None:
    with grpcclient.InferenceServerClient(explicit.grpc_url) as client:
        client.load_model("affine", config=json.dumps({"shape": "(1,4)"}))
        assert client.get_model_metadata("affine", as_json=True)["inputs"][0]["shape"] == ["1", "4"]
        client.load_model("affine")  # without a config: the folder's defaults again
        assert client.get_model_metadata("affine", as_json=True)["inputs"][0]["shape"] == ["-1", "4"]
    http = httpclient.InferenceServerClient(explicit.rest_url)
    try:
        http.load_model("affine", config=json.dumps({"shape": "(2,4)"}))
        assert http.get_model_metadata("affine")["inputs"][0]["shape"] == [2, 4]
        http.unload_model("affine")
    finally:
        http.close()


def test_a_bad_config_is_refused_with_the_field_named(explicit: ServerProcess) -> None:
    with (
        grpcclient.InferenceServerClient(explicit.grpc_url) as client,
        pytest.raises(InferenceServerException) as refused,
    ):
        client.load_model("affine", config='{"nireq": -1}')
    assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "config.nireq: must be >= 0" in refused.value.message()
    http = httpclient.InferenceServerClient(explicit.rest_url)
    try:
        with pytest.raises(InferenceServerException) as refused:
            http.load_model("affine", config='{"target_devic": "CPU"}')
        assert refused.value.status() == "400"
        assert 'unknown key "target_devic"' in refused.value.message()
    finally:
        http.close()


@pytest.mark.parametrize("name", ["../models/affine", "..", "a/b", "/etc"])
def test_bad_names_are_refused_over_grpc(explicit: ServerProcess, name: str) -> None:
    with grpcclient.InferenceServerClient(explicit.grpc_url) as client:
        for call in (client.load_model, client.unload_model):
            with pytest.raises(InferenceServerException) as refused:
                call(name)
            assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
            assert "Invalid model name" in refused.value.message()


@pytest.mark.parametrize(
    ("path", "status"),
    [("a%2Fb", 404), ("..%2Fmodels%2Faffine", 404), ("..%2F..%2Fetc", 404), ("%2E%2E", 400)],
)
def test_bad_names_never_load_over_rest(explicit: ServerProcess, path: str, status: int) -> None:
    """A name with "/" matches no route (404); ".." as the whole segment is refused (400)."""
    answer = httpx.post(f"http://{explicit.rest_url}/v2/repository/models/{path}/load")
    assert answer.status_code == status, answer.text
    index = httpx.post(f"http://{explicit.rest_url}/v2/repository/index", json={"ready": True}).json()
    assert [m["name"] for m in index] == ["spare"]


def test_tritonclient_http_cannot_reach_outside_the_repository(explicit: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(explicit.rest_url)
    try:
        for name in ("../models/affine", "a/b"):
            with pytest.raises(InferenceServerException) as refused:
                client.load_model(name)
            assert refused.value.status() in ("400", "404")
        assert [m["name"] for m in client.get_model_repository_index() if m["state"] == "READY"] == ["spare"]
    finally:
        client.close()


def test_an_unknown_model_is_not_found(explicit: ServerProcess) -> None:
    with grpcclient.InferenceServerClient(explicit.grpc_url) as client:
        for call in (client.load_model, client.unload_model):
            with pytest.raises(InferenceServerException) as unknown:
                call("nope")
            assert unknown.value.status() == "StatusCode.NOT_FOUND"
    http = httpclient.InferenceServerClient(explicit.rest_url)
    try:
        with pytest.raises(InferenceServerException) as unknown:
            http.load_model("nope")
        assert (unknown.value.status(), unknown.value.message()) == (
            "404",
            "Model with requested name is not found - name: nope",
        )
    finally:
        http.close()


def test_config_reload_is_refused_in_explicit_mode(explicit: ServerProcess) -> None:
    answer = httpx.post(f"http://{explicit.rest_url}/v1/config/reload")
    assert answer.status_code == 412
    assert "explicit model control mode" in answer.json()["error"]


def test_none_mode_refuses_load_and_unload(control_repository: Path, spawn_server: Spawn) -> None:
    server = spawn_server(
        ["--model_name", "affine", "--model_path", str(control_repository / "models" / "affine")]
    )
    with grpcclient.InferenceServerClient(server.grpc_url) as client:
        for call in (client.load_model, client.unload_model):
            with pytest.raises(InferenceServerException) as refused:
                call("affine")
            assert refused.value.status() == "StatusCode.FAILED_PRECONDITION"
            assert "--model_control_mode explicit" in refused.value.message()
        assert ("affine", "1", "READY") in [
            (m.name, m.version, m.state) for m in client.get_model_repository_index().models
        ]
    http = httpclient.InferenceServerClient(server.rest_url)
    try:
        with pytest.raises(InferenceServerException) as refused:
            http.unload_model("affine")
        assert refused.value.status() == "412"
        assert http.is_model_ready("affine") is True
    finally:
        http.close()


def test_none_mode_serves_a_whole_repository(control_repository: Path, spawn_server: Spawn) -> None:
    server = spawn_server(["--model_repository_path", str(control_repository / "models")])
    index = httpx.post(f"http://{server.rest_url}/v2/repository/index").json()
    assert index == [
        {"name": "affine", "version": "1", "state": "READY"},
        {"name": "spare", "version": "1", "state": "READY"},
    ]


def test_control_calls_need_the_api_key(
    control_repository: Path, tmp_path: Path, spawn_server: Spawn
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    models = str(control_repository / "models")
    server = spawn_server(
        [
            "--model_repository_path",
            models,
            "--model_control_mode",
            "explicit",
            "--api_key_file",
            str(key_file),
        ]
    )
    bearer = {"authorization": f"Bearer {KEY}"}
    with grpcclient.InferenceServerClient(server.grpc_url) as client:
        for call in (client.get_model_repository_index, lambda: client.load_model("affine")):
            with pytest.raises(InferenceServerException) as refused:
                call()
            assert refused.value.status() == "StatusCode.UNAUTHENTICATED"
        client.load_model("affine", headers=bearer)
        assert client.is_model_ready("affine", headers=bearer) is True
    base = f"http://{server.rest_url}/v2/repository"
    for path in ("/index", "/models/affine/load", "/models/affine/unload"):
        assert httpx.post(base + path).status_code == 401
    http = httpclient.InferenceServerClient(server.rest_url)
    try:
        with pytest.raises(InferenceServerException) as refused:
            http.unload_model("affine", headers={"authorization": "Bearer wrong"})
        assert refused.value.status() == "401"
        http.unload_model("affine", headers=dict(bearer))
        assert _states(http.get_model_repository_index(headers=dict(bearer)), "affine")[0][1] == "UNAVAILABLE"
    finally:
        http.close()
    assert KEY not in server.log_text()


def test_a_load_model_that_is_not_found_stops_start_up(control_repository: Path) -> None:
    models = str(control_repository / "models")
    done = ovms(
        "serve", "--model_repository_path", models, "--model_control_mode", "explicit", "--load_model", "nope"
    )
    assert (done.returncode, done.stderr.strip()) == (
        1,
        "--load_model: Model with requested name is not found - name: nope",
    )


def test_none_mode_on_a_repository_without_models_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "no_versions").mkdir()
    done = ovms("serve", "--model_repository_path", str(tmp_path))
    assert (done.returncode, done.stderr.strip()) == (
        1,
        f"No model (a folder with numbered version folders) in --model_repository_path {tmp_path}",
    )


def test_a_load_model_that_fails_to_load_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "broken" / "1").mkdir(parents=True)
    (tmp_path / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx file")
    args = ["--model_repository_path", str(tmp_path), "--model_control_mode", "explicit", "--load_model", "*"]
    done = ovms("serve", *args, "--port", free_port(), "--rest_port", free_port(), timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Model broken failed to load" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--model_control_mode", "poll", "--model_repository_path", "{models}"],
            "model_control_mode should be one of",
        ),
        (["--model_control_mode", "explicit"], "needs --model_repository_path or --config_path"),
        (
            ["--model_control_mode", "explicit", "--model_name", "a", "--model_path", "{models}/affine"],
            "use --load_model NAME instead of --model_name/--model_path",
        ),
        (
            ["--model_repository_path", "{models}", "--config_path", "{config}"],
            "needs --model_control_mode explicit",
        ),
        (["--model_repository_path", "{models}", "--nireq", "2"], "exclusive with --model_repository_path"),
        (["--model_repository_path", "{models}/nothing"], "must be a local directory"),
        (
            ["--config_path", "{config}", "--load_model", "tuned"],
            "--load_model needs --model_control_mode explicit",
        ),
        (
            ["--model_control_mode", "explicit", "--model_repository_path", "{models}", "--workers", "2"],
            "--model_control_mode explicit needs --workers 1",
        ),
    ],
)
def test_combinations_that_make_no_sense_are_usage_errors(
    control_repository: Path, args: list[str], message: str
) -> None:
    paths = {"models": str(control_repository / "models"), "config": str(control_repository / "config.json")}
    done = ovms("serve", *[arg.format(**paths) for arg in args])
    assert done.returncode == EX_USAGE, done.stderr
    assert message in done.stderr


def test_serve_help_lists_the_model_control_options() -> None:
    done = ovms("serve", "--help")
    for option in ("--model_control_mode", "--model_repository_path", "--load_model"):
        assert option in done.stdout


# --- pipelines: not under control, they follow their models --------------------------------------

NOT_UNDER_CONTROL = "Pipelines are not under model control - name: chain;"


def _chain_input(module: Any) -> Any:
    tensor = module.InferInput("x", list(ROW.shape), "FP32")
    tensor.set_data_from_numpy(ROW)
    return tensor


def test_pipelines_follow_their_models_and_refuse_control(tmp_path: Path, spawn_server: Spawn) -> None:
    """config.json's pipeline ``chain`` (square, then add) in explicit mode with only ``square``
    loaded: tritonclient over gRPC and HTTP sees it refuse load/unload and follow ``add``."""
    write_ir(square_model(), tmp_path / "square", 1)
    write_ir(add_model(), tmp_path / "add", 1)
    models = [{"config": {"name": n, "base_path": str(tmp_path / n)}} for n in ("square", "add")]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_config_list": models, "pipeline_config_list": [square_then_add()]}))
    server = spawn_server(
        ["--config_path", str(config), "--model_control_mode", "explicit", "--load_model", "square"]
    )
    http = httpclient.InferenceServerClient(server.rest_url)
    try:
        with grpcclient.InferenceServerClient(server.grpc_url) as client:
            index = client.get_model_repository_index(as_json=True)["models"]
            assert _states(index, "chain") == [("1", "UNAVAILABLE", WITHOUT_ADD)]
            for call in (client.load_model, client.unload_model):
                with pytest.raises(InferenceServerException) as refused:
                    call("chain")
                assert refused.value.status() == "StatusCode.FAILED_PRECONDITION"
                assert refused.value.message().startswith(NOT_UNDER_CONTROL)
            for call in (http.load_model, http.unload_model):
                with pytest.raises(InferenceServerException) as refused:
                    call("chain")
                assert refused.value.status() == "412"
                assert refused.value.message().startswith(NOT_UNDER_CONTROL)

            client.load_model("add")
            index = client.get_model_repository_index(as_json=True)["models"]
            assert _states(index, "chain") == [("1", "READY", "")]
            assert client.is_model_ready("chain") is True
            result = client.infer("chain", [_chain_input(grpcclient)])
            np.testing.assert_array_equal(result.as_numpy("result"), ROW * ROW + ROW)

            http.unload_model("add")
            assert _states(http.get_model_repository_index(), "chain") == [("1", "UNAVAILABLE", WITHOUT_ADD)]
            assert http.is_model_ready("chain") is False
            with pytest.raises(InferenceServerException) as unavailable:
                http.infer("chain", [_chain_input(httpclient)])
            assert unavailable.value.status() == "503"
            assert "Pipeline is not loaded yet" in unavailable.value.message()

            http.load_model("add")
            result = client.infer("chain", [_chain_input(grpcclient)])
            np.testing.assert_array_equal(result.as_numpy("result"), ROW * ROW + ROW)
    finally:
        http.close()


# --- the README's own lines ---------------------------------------------------------------------


def _readme_block(language: str, marker: str) -> str:
    blocks = README.read_text().split(f"```{language}\n")[1:]
    (block,) = [b.split("```", 1)[0] for b in blocks if marker in b.split("```", 1)[0]]
    return block


def test_the_readme_commands(control_repository: Path, tmp_path: Path) -> None:
    """The README's serve line on a repository holding `resnet`, then its curl and tritonclient lines."""
    (serve,) = [c for c in deploy_commands("ovms", "serve") if "--model_control_mode" in c]
    repository = tmp_path / "models"
    write_ir(affine_model(), repository / "resnet", 1)
    args = [str(repository) if arg == "/models" else arg for arg in serve[2:]]
    for flag in ("--port", "--rest_port"):
        del args[args.index(flag) : args.index(flag) + 2]
    server = start_server(args, tmp_path / "readme.log")
    ports = {"localhost:9000": server.grpc_url, "localhost:8000": server.rest_url}
    try:
        for line in _readme_block("bash", "/v2/repository/index").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] != ["curl"]:
                continue
            words = [re.sub("localhost:(9000|8000)", lambda m: ports[m.group(0)], w) for w in words]
            done = subprocess.run(
                [*words, "--fail-with-body", "-sS"], capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, (line, done.stdout, done.stderr)
        code = _readme_block("python", "load_model")
        for readme_url, url in ports.items():
            code = code.replace(readme_url, url)
        exec(compile(code, "README.md", "exec"), {})  # the README's own example
        index = httpx.post(f"http://{server.rest_url}/v2/repository/index").json()
        assert index == [{"name": "resnet", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"}]
    finally:
        assert server.stop() == 0, server.log_text()


def test_grpc_methods_are_on_the_kserve_service(explicit: ServerProcess) -> None:
    """tritonclient calls /inference.GRPCInferenceService/RepositoryIndex; so does a raw stub."""
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    with grpc.insecure_channel(explicit.grpc_url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        index = stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(ready=True))
        with pytest.raises(grpc.RpcError) as refused:
            stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(repository_name="other"))
    assert [(m.name, m.state) for m in index.models] == [("spare", "READY")]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
