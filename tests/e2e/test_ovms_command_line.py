"""OVMS's own command line (no ``serve``), ``--version``, the config-file commands of OVMS 2025 and
the server options a script may pass, run as real ``ovms`` processes and asked over gRPC and REST."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcclient_aio
import tritonclient.http as httpclient
from builders import affine_model, write_ir
from e2e.test_cli import EX_USAGE, free_port, ovms
from e2e.test_lifecycle import _states, _wait_for
from tritonclient.utils import InferenceServerException

from ovms_cli import __version__

if TYPE_CHECKING:
    from server_process import ServerProcess

Spawn = Callable[..., "ServerProcess"]
X = np.arange(8, dtype=np.float32).reshape(2, 4)


def _infer_grpc(server: ServerProcess, name: str, data: np.ndarray = X) -> np.ndarray:
    with grpcclient.InferenceServerClient(server.grpc_url) as client:
        tensor = grpcclient.InferInput("input", list(data.shape), "FP32")
        tensor.set_data_from_numpy(data)
        result = client.infer(name, [tensor]).as_numpy("scaled")
    assert result is not None
    return result


def _infer_rest(server: ServerProcess, name: str, data: np.ndarray = X) -> np.ndarray:
    client = httpclient.InferenceServerClient(server.rest_url)
    try:
        tensor = httpclient.InferInput("input", list(data.shape), "FP32")
        tensor.set_data_from_numpy(data)
        result = client.infer(name, [tensor]).as_numpy("scaled")
    finally:
        client.close()
    assert result is not None
    return result


# --- OVMS's command line without a subcommand ------------------------------------------------------


def test_config_mode_without_serve(spawn_server: Spawn, repository: Path) -> None:
    server = spawn_server(["--config_path", str(repository / "config.json")], subcommand=False)
    np.testing.assert_array_equal(_infer_grpc(server, "affine"), X * 2 + 1)
    np.testing.assert_array_equal(_infer_rest(server, "affine"), X * 2 + 1)
    assert server.stop() == 0


def test_single_model_mode_without_serve(spawn_server: Spawn, repository: Path) -> None:
    server = spawn_server(
        ["--model_name", "scaler", "--model_path", str(repository / "affine"), "--nireq", "2"],
        subcommand=False,
    )
    np.testing.assert_array_equal(_infer_rest(server, "scaler"), X * 2 + 1)
    assert "No of InferRequests: 2" in server.log_text()
    assert server.stop() == 0


def test_usage_rules_apply_without_serve(config_path: str) -> None:
    result = ovms("--config_path", config_path, "--model_name", "x")
    assert result.returncode == EX_USAGE
    assert result.stderr.strip() == "Use either config_path or model_path with model_name"


@pytest.fixture
def config_path(repository: Path) -> str:
    return str(repository / "config.json")


# --- --version and a fast start ----------------------------------------------------------------------


def test_version_prints_ours_and_openvinos() -> None:
    expected = f"OpenVINO Model Server {__version__}\nOpenVINO backend {package_version('openvino')}\n"
    flag, command = ovms("--version"), ovms("version")
    assert (flag.returncode, flag.stdout, flag.stderr) == (0, expected, "")
    assert (command.returncode, command.stdout) == (0, expected)


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_neither_the_server_nor_openvino(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ovms_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.count("|") == 2}
    assert "ovms_cli.cli" in imported
    heavy = ("openvino", "grpc", "numpy", "hypercorn", "starlette", "ovms_cli.transports", "ovms_cli.config")
    assert sorted(m for m in imported if m.startswith(heavy)) == []


# --- list-models / --list_models -----------------------------------------------------------------------


def test_list_models_in_both_spellings(tmp_path: Path) -> None:
    write_ir(affine_model(), tmp_path / "resnet", 1)
    write_ir(affine_model(), tmp_path / "resnet", 3)
    write_ir(affine_model(), tmp_path / "meta" / "llama", 2)
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not a model")
    text = ovms("--list_models", "--model_repository_path", str(tmp_path))
    assert (text.returncode, text.stdout) == (0, "meta/llama\nresnet\n"), text.stderr
    document = ovms("list-models", "--model_repository_path", str(tmp_path), "--json")
    assert document.returncode == 0, document.stderr
    assert json.loads(document.stdout) == {
        "model_repository_path": str(tmp_path),
        "models": [
            {"name": "meta/llama", "base_path": str(tmp_path / "meta" / "llama"), "versions": [2]},
            {"name": "resnet", "base_path": str(tmp_path / "resnet"), "versions": [1, 3]},
        ],
        "error": None,
    }


def test_list_models_of_a_missing_folder_exits_1(tmp_path: Path) -> None:
    result = ovms("--list_models", "--model_repository_path", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"model_repository_path {tmp_path / 'nowhere'} is not a directory"
    assert result.stdout == ""


def test_list_models_json_of_a_missing_folder_prints_one_document_and_exits_1(tmp_path: Path) -> None:
    result = ovms("list-models", "--model_repository_path", str(tmp_path / "nowhere"), "--json")
    assert result.returncode == 1
    message = f"model_repository_path {tmp_path / 'nowhere'} is not a directory"
    assert result.stderr.strip() == message
    assert json.loads(result.stdout) == {
        "model_repository_path": str(tmp_path / "nowhere"),
        "models": [],
        "error": message,
    }


# --- validate-config --json --------------------------------------------------------------------------


def test_validate_config_json_on_a_good_config(config_path: str) -> None:
    result = ovms("validate-config", config_path, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["valid"], document["problems"]) == (True, [])
    affine = next(m for m in document["models"] if m["name"] == "affine")
    assert (affine["versions"], affine["served_versions"]) == ([1, 2], [1, 2])  # policy "all"
    fixed = next(m for m in document["models"] if m["name"] == "fixed")
    assert (fixed["nireq"], fixed["served_versions"]) == (2, [1])


def test_validate_config_json_on_a_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps({"model_config_list": [{"config": {"name": "a", "base_path": "a", "nireq": "x"}}]})
    )
    result = ovms("validate-config", str(path), "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)  # one JSON document, nothing else on stdout
    assert document["valid"] is False
    assert [p["path"] for p in document["problems"]] == ["model_config_list[0].config.nireq"]
    assert document["models"] == []


# --- --add_to_config / --remove_from_config --------------------------------------------------------


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_ir(affine_model(), root / "affine", 1)
    return root


def test_add_then_serve_then_remove_while_serving(models: Path, spawn_server: Spawn) -> None:
    config = models / "config.json"
    first = ovms(  # OVMS 2025.2+: a flag and --config_path; the file is created
        "--add_to_config", "--config_path", str(config), "--model_name", "first", "--model_path", "affine",
        "--nireq", "2", "--plugin_config", '{"NUM_STREAMS": "1"}',
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    second = ovms(  # OVMS 2025.0: the config's folder as the directive's value
        "--add_to_config", str(models), "--model_name", "second", "--model_path", str(models / "affine")
    )
    assert second.returncode == 0, second.stderr
    assert json.loads(config.read_text()) == {
        "model_config_list": [
            {
                "config": {
                    "name": "first",
                    "base_path": "affine",
                    "nireq": 2,
                    "plugin_config": {"NUM_STREAMS": "1"},
                }
            },
            {"config": {"name": "second", "base_path": str(models / "affine")}},
        ]
    }

    server = spawn_server(["--config_path", str(config)], subcommand=False)
    np.testing.assert_array_equal(_infer_grpc(server, "first"), X * 2 + 1)
    np.testing.assert_array_equal(_infer_grpc(server, "second"), X * 2 + 1)

    removed = ovms("--remove_from_config", "--config_path", str(config), "--model_name", "second")
    assert removed.returncode == 0, removed.stderr
    _wait_for(lambda: _states(server, "second") == {1: "END"}, "the removed model to end")
    assert _states(server, "first") == {1: "AVAILABLE"}
    with grpcclient.InferenceServerClient(server.grpc_url) as client:
        assert client.is_model_ready("first") is True
        with pytest.raises(InferenceServerException) as raised:  # no version left to serve
            client.is_model_ready("second")
        assert raised.value.status() == "StatusCode.NOT_FOUND"
    assert [item["config"]["name"] for item in json.loads(config.read_text())["model_config_list"]] == [
        "first"
    ]
    assert server.stop() == 0


def _entries(config: Path) -> list[dict[str, Any]]:
    return [item["config"] for item in json.loads(config.read_text())["model_config_list"]]


def test_an_edit_whose_result_is_invalid_writes_nothing(models: Path) -> None:
    config = models / "config.json"
    config.write_text(
        json.dumps(
            {"model_config_list": [{"config": {"name": "a", "base_path": "affine"}}], "colour": "blue"}
        )
    )
    before = config.read_bytes()
    for args in (
        ["--add_to_config", "--config_path", str(config), "--model_name", "b", "--model_path", "affine"],
        ["--remove_from_config", "--config_path", str(config), "--model_name", "a"],
    ):
        result = ovms(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert "the result would be invalid, nothing written" in result.stderr
        assert 'unknown key "colour"' in result.stderr
        assert config.read_bytes() == before
        assert sorted(p.name for p in models.iterdir()) == ["affine", "config.json"]  # no temporary left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model_name", "a", "--model_path", "affine"], 'a model named "a" is already configured'),
        (["--model_name", "b", "--model_path", "affine", "--shape", "(1,x)"], "--shape: "),
        (["--model_name", "b", "--model_path", "affine", "--nireq", "200000"], "--nireq: must be <= 100000"),
        (
            ["--model_name", "missing", "--model_path", "/nonexistent"],
            "model_config_list[1].config.base_path: directory /nonexistent does not exist",
        ),
    ],
)
def test_add_to_config_refusals_exit_1(models: Path, args: list[str], message: str) -> None:
    config = models / "config.json"
    config.write_text(json.dumps({"model_config_list": [{"config": {"name": "a", "base_path": "affine"}}]}))
    before = config.read_bytes()
    result = ovms("--add_to_config", "--config_path", str(config), *args)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert message in result.stderr
    assert config.read_bytes() == before


def test_add_keeps_every_other_key_and_remove_refuses_a_model_a_pipeline_uses(models: Path) -> None:
    config = models / "config.json"
    document = {
        "model_config_list": [
            {"config": {"name": "a", "base_path": "affine", "model_version_policy": {"all": {}}}}
        ],
        "pipeline_config_list": [
            {
                "name": "p",
                "inputs": ["input"],
                "nodes": [
                    {
                        "name": "n",
                        "model_name": "a",
                        "type": "DL model",
                        "inputs": [{"input": {"node_name": "request", "data_item": "input"}}],
                        "outputs": [{"data_item": "scaled", "alias": "scaled"}],
                    }
                ],
                "outputs": [{"scaled": {"node_name": "n", "data_item": "scaled"}}],
            }
        ],
        "monitoring": {"metrics": {"enable": True}},
    }
    config.write_text(json.dumps(document))
    added = ovms("--add_to_config", str(config), "--model_name", "b", "--model_path", "affine")
    assert added.returncode == 0, added.stderr
    expected = {**document, "model_config_list": [*document["model_config_list"], {"config": {"name": "b", "base_path": "affine"}}]}  # fmt: skip
    assert json.loads(config.read_text()) == expected
    refused = ovms("--remove_from_config", str(config), "--model_name", "a")
    assert refused.returncode == 1
    assert 'model "a" is used by pipeline(s) p' in refused.stderr
    assert json.loads(config.read_text()) == expected


def test_remove_refusals(models: Path) -> None:
    config = models / "config.json"
    missing = ovms("--remove_from_config", "--config_path", str(config), "--model_name", "a")
    assert (missing.returncode, missing.stderr.strip()) == (1, f"{config}: no such config file")
    config.write_text(json.dumps({"model_config_list": []}))
    unknown = ovms("--remove_from_config", "--config_path", str(config), "--model_name", "a")
    assert (unknown.returncode, unknown.stderr.strip()) == (1, f'{config}: no model named "a" to remove')
    with_path = ovms("--remove_from_config", str(config), "--model_name", "a", "--model_path", "affine")
    assert with_path.returncode == EX_USAGE  # OVMS: --model_path cannot be used with --remove_from_config


def test_two_directives_exit_64() -> None:
    result = ovms("--list_models", "--remove_from_config", "c.json", "--model_name", "a")
    assert result.returncode == EX_USAGE
    assert (
        result.stderr.strip()
        == "error parsing options - --list_models cannot be used with --remove_from_config"
    )


def test_concurrent_adds_lose_nothing(models: Path) -> None:
    config = models / "config.json"
    names = [f"m{i}" for i in range(6)]
    command = [sys.executable, "-m", "ovms_cli", "--add_to_config", str(config), "--model_path", "affine"]
    running = [subprocess.Popen([*command, "--model_name", n], stderr=subprocess.PIPE) for n in names]
    assert [p.wait(timeout=120) for p in running] == [0] * len(names)
    assert sorted(e["name"] for e in _entries(config)) == names


# --- server options ------------------------------------------------------------------------------------


def test_grpc_channel_arguments_reach_the_grpc_server(spawn_server: Spawn, repository: Path) -> None:
    server = spawn_server(
        [
            "--model_name", "affine", "--model_path", str(repository / "affine"),
            "--grpc_channel_arguments", "grpc.max_receive_message_length=4000,grpc.max_connection_age_ms=600000",
        ],
        subcommand=False,
    )  # fmt: skip
    np.testing.assert_array_equal(_infer_grpc(server, "affine"), X * 2 + 1)
    large = np.ones((300, 4), np.float32)  # 4800 bytes of tensor data
    with pytest.raises(InferenceServerException) as raised:
        _infer_grpc(server, "affine", large)
    assert raised.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
    np.testing.assert_array_equal(_infer_rest(server, "affine", large), large * 2 + 1)  # gRPC's limit only
    assert "grpc.max_receive_message_length=4000" in server.log_text()
    assert server.stop() == 0


def _burst(server: ServerProcess, calls: int = 32) -> list[Any]:
    """``calls`` simultaneous KServe gRPC infers on one channel; exceptions are returned."""
    data = np.ones((20000, 4), np.float32)

    async def burst() -> list[Any]:
        async with grpcclient_aio.InferenceServerClient(server.grpc_url) as client:

            async def one() -> Any:
                tensor = grpcclient_aio.InferInput("input", list(data.shape), "FP32")
                tensor.set_data_from_numpy(data)
                return await client.infer("affine", [tensor])

            return await asyncio.gather(*(one() for _ in range(calls)), return_exceptions=True)

    return asyncio.run(burst())


def test_grpc_max_threads_caps_the_calls_in_progress(
    spawn_server: Spawn, repository: Path, server: ServerProcess
) -> None:
    unlimited = _burst(server)
    assert [r for r in unlimited if isinstance(r, BaseException)] == []

    capped = spawn_server(
        ["--model_name", "affine", "--model_path", str(repository / "affine"), "--grpc_max_threads", "1"],
        subcommand=False,
    )
    results = _burst(capped)
    refused = [r for r in results if isinstance(r, InferenceServerException)]
    assert len(refused) + sum(1 for r in results if not isinstance(r, BaseException)) == len(results), results
    assert refused, "32 simultaneous calls against --grpc_max_threads 1 were all admitted"
    assert {r.status() for r in refused} == {"StatusCode.RESOURCE_EXHAUSTED"}
    assert len(refused) < len(results)
    assert capped.stop() == 0


def _casefold_model(base: Path) -> None:
    """``folded = casefold(text)`` on ``text: STRING[-1]``: ops of openvino_tokenizers' extension."""
    import openvino as ov
    import openvino.opset13 as ops
    from openvino_tokenizers import _get_factory

    factory = _get_factory()
    text = ops.parameter([-1], ov.Type.string, name="text")
    unpacked = factory.create("StringTensorUnpack", [text.output(0)]).outputs()
    folded = factory.create("CaseFold", unpacked, {"encoding": "utf-8"}).outputs()
    packed = factory.create("StringTensorPack", folded).outputs()
    result = ops.result(packed[0])
    result.output(0).get_tensor().set_names({"folded"})
    write_ir(ov.Model([result], [text], "casefold"), base)


def test_cpu_extension_is_loaded_into_openvino(tmp_path: Path, spawn_server: Spawn) -> None:
    tokenizers = pytest.importorskip("openvino_tokenizers")  # the one extension library on PyPI
    library = str(tokenizers._ext_path)
    _casefold_model(tmp_path / "casefold")
    model = ["--model_name", "casefold", "--model_path", str(tmp_path / "casefold")]

    without = ovms(*model, "--port", free_port(), timeout=120)
    assert without.returncode == 1, without.stdout
    assert "StringTensorUnpack" in without.stdout + without.stderr

    server = spawn_server([*model, "--cpu_extension", library], subcommand=False)
    client = httpclient.InferenceServerClient(server.rest_url)
    try:
        text = httpclient.InferInput("text", [2], "BYTES")
        text.set_data_from_numpy(np.array(["HeLLo", "ÄBC"], dtype=np.object_))
        folded = client.infer("casefold", [text]).as_numpy("folded")
    finally:
        client.close()
    assert folded is not None
    assert [v.decode() for v in folded] == ["hello", "äbc"]
    assert f"Loaded the OpenVINO extension {library}" in server.log_text()
    assert server.stop() == 0


def test_cpu_extension_that_is_not_a_library_exits_1(tmp_path: Path, repository: Path) -> None:
    library = tmp_path / "libnot_an_extension.so"
    library.write_text("not a shared library")
    result = ovms(
        "--model_name", "affine", "--model_path", str(repository / "affine"),
        "--cpu_extension", str(library), "--port", free_port(),
    )  # fmt: skip
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"Failed to load the --cpu_extension library {library}: ")


def test_log_path_gets_the_log(tmp_path: Path, spawn_server: Spawn, config_path: str) -> None:
    log = tmp_path / "server.log"
    server = spawn_server(["--config_path", config_path, "--log_path", str(log)], subcommand=False)
    assert server.stop() == 0
    lines = log.read_text().splitlines()
    assert any(re.search(r"\[ovms\.serving\]\[INFO\] Server ready: ", line) for line in lines), lines
    assert any(line.endswith("Shutdown complete") for line in lines), lines


def test_log_path_in_a_missing_folder_exits_1(tmp_path: Path, config_path: str) -> None:
    log = tmp_path / "nowhere" / "server.log"
    result = ovms("--config_path", config_path, "--log_path", str(log), "--port", free_port())
    assert result.returncode == 1
    assert result.stderr.strip() == f"Cannot open --log_path {log}: No such file or directory"
