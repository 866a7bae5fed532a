"""Generative models in the classic APIs (status, readiness, metadata, index, reload), as OVMS shows its
MediaPipe graphs: a real server on the demo models, tritonclient, httpx and the openai client."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from genai_models import EMBEDDINGS, LLM, RERANK, build_all
from server_process import ServerProcess, start_server
from tritonclient.utils import InferenceServerException

BROKEN = "broken-llm"


def _config(models: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((models / "config.json").read_text())
    return document


def _write(models: Path, document: dict[str, Any]) -> None:
    (models / "config.json").write_text(json.dumps(document))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo models, a copy of the LLM's folder to edit, and an entry whose folder does not exist."""
    config = build_all(tmp_path_factory.mktemp("genai-status"))
    root = config.parent
    shutil.copytree(root / LLM, root / "edited-llm")
    document = _config(root)
    document["mediapipe_config_list"] += [
        {"name": "edited-llm", "base_path": "edited-llm"},
        {"name": BROKEN, "base_path": "nowhere"},
    ]
    _write(root, document)
    return root


@pytest.fixture(scope="module")
def server(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("genai-status-logs") / "ovms.log"
    args = ["--config_path", str(models / "config.json"), "--file_system_poll_wait_seconds", "0"]
    running = start_server(args, log)
    yield running
    assert running.stop() == 0, running.log_text()


@pytest.fixture(scope="module")
def rest(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{server.rest_url}", timeout=60) as client:
        yield client


def _status(rest: httpx.Client) -> dict[str, Any]:
    answer = rest.get("/v1/config")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def _state(document: dict[str, Any], name: str) -> dict[str, Any]:
    versions = document[name]["model_version_status"]
    assert len(versions) == 1
    only: dict[str, Any] = versions[0]
    return only


def test_server_ready_once_every_generative_model_loaded_or_failed(server: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(server.rest_url)
    assert client.is_server_ready()
    for name in (LLM, EMBEDDINGS, RERANK):
        assert client.is_model_ready(name)
    assert not client.is_model_ready(BROKEN)
    assert not client.is_model_ready("missing")


def test_kserve_grpc_readiness_and_metadata(server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    assert client.is_model_ready(LLM)
    assert client.is_model_ready(LLM, "7")  # a graph is unversioned: version 1 whatever is asked
    assert not client.is_model_ready(BROKEN)
    with pytest.raises(InferenceServerException) as unknown:
        client.is_model_ready("missing")
    assert unknown.value.status() == "StatusCode.NOT_FOUND"
    metadata = client.get_model_metadata(LLM, as_json=True)
    assert metadata["versions"] == ["1"]
    # no shape: protobuf's JSON leaves the empty repeated field out
    assert metadata["inputs"] == [{"name": "input", "datatype": "INVALID"}]
    assert metadata["outputs"] == [{"name": "output", "datatype": "INVALID"}]


def test_triton_model_config_of_a_ready_generative_model(server: ServerProcess) -> None:
    """Listed READY in the index, so its configuration answers too: a MediaPipe graph without tensors."""
    expected = {"name": LLM, "platform": "mediapipe", "backend": "mediapipe"}
    grpc_config = grpcclient.InferenceServerClient(server.grpc_url).get_model_config(LLM, as_json=True)
    http_config = httpclient.InferenceServerClient(server.rest_url).get_model_config(LLM)
    for config in (grpc_config["config"], http_config):
        assert {key: config[key] for key in expected} == expected
        assert [int(v) for v in config["version_policy"]["specific"]["versions"]] == [1]
        assert not config.get("input") and not config.get("output")
    with pytest.raises(InferenceServerException) as failed:
        httpclient.InferenceServerClient(server.rest_url).get_model_config(BROKEN)
    assert "nowhere" in str(failed.value)


def test_kserve_rest_metadata_and_refused_inference(rest: httpx.Client) -> None:
    metadata = rest.get(f"/v2/models/{EMBEDDINGS}").json()
    assert (metadata["name"], metadata["versions"], metadata["platform"]) == (EMBEDDINGS, ["1"], "OpenVINO")
    assert [t["name"] for t in metadata["inputs"]] == ["input"]
    assert rest.get(f"/v2/models/{BROKEN}").status_code == 503
    assert rest.get(f"/v2/models/{BROKEN}/ready").status_code == 503
    assert rest.get("/v2/models/missing/ready").status_code == 404
    body = {"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": ["hi"]}]}
    refused = rest.post(f"/v2/models/{LLM}/infer", json=body)
    assert refused.status_code == 400
    assert "/v3/chat/completions" in refused.json()["error"]


def test_repository_index_lists_generative_models(server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    index = {m.name: m for m in client.get_model_repository_index().models}
    for name in (LLM, EMBEDDINGS, RERANK):
        assert (index[name].version, index[name].state) == ("1", "READY")
    assert index[BROKEN].state == "UNAVAILABLE"
    assert "nowhere" in index[BROKEN].reason


def test_config_status_lists_generative_models_with_their_state(rest: httpx.Client) -> None:
    document = _status(rest)
    assert _state(document, LLM) == {
        "version": "1",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": "OK"},
    }
    broken = _state(document, BROKEN)
    assert (broken["state"], broken["status"]["error_code"]) == ("LOADING", "FAILED_PRECONDITION")
    assert "nowhere/graph.pbtxt" in broken["status"]["error_message"]


def test_tfs_status_answers_for_graphs_and_metadata_does_not(rest: httpx.Client) -> None:
    status = rest.get(f"/v1/models/{RERANK}").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    assert rest.get(f"/v1/models/{RERANK}/metadata").status_code == 404  # OVMS: models and pipelines only
    assert rest.post(f"/v1/models/{RERANK}:predict", json={"instances": [1]}).status_code == 404


def test_tfs_grpc_status_with_ovmsclient(server: ServerProcess) -> None:
    client = ovmsclient.make_grpc_client(server.grpc_url)
    assert client.get_model_status(model_name=LLM) == {
        1: {"state": "AVAILABLE", "error_code": 0, "error_message": "OK"}
    }
    failed = client.get_model_status(model_name=BROKEN)[1]
    assert (failed["state"], failed["error_code"]) == ("LOADING", 9)  # FAILED_PRECONDITION
    with pytest.raises(ovmsclient.ModelNotFoundError):
        client.get_model_metadata(model_name=LLM)


def test_single_model_ready_only_after_the_generative_model_loaded(models: Path, tmp_path: Path) -> None:
    """``--source_model``: the first time /v2/health/ready says 200, the model already is."""
    args = ["--source_model", str(models / LLM), "--task", "text_generation", "--model_name", "solo"]
    running = start_server(args, tmp_path / "ovms.log", wait_ready=False)
    try:
        with httpx.Client(base_url=f"http://{running.rest_url}", timeout=10) as rest:
            deadline = time.monotonic() + 120
            while True:
                assert time.monotonic() < deadline, running.log_text()
                assert running.process.poll() is None, running.log_text()
                try:
                    if rest.get("/v2/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            assert rest.get("/v2/models/solo/ready").status_code == 200
            assert _state(_status(rest), "solo")["state"] == "AVAILABLE"
    finally:
        assert running.stop() == 0, running.log_text()


def _reload(rest: httpx.Client) -> httpx.Response:
    return rest.post("/v1/config/reload")


def test_reload_follows_graph_edits_failures_and_removals(
    server: ServerProcess, rest: httpx.Client, models: Path
) -> None:
    client = openai.OpenAI(base_url=f"http://{server.rest_url}/v3", api_key="unused", max_retries=0)
    graph = models / "edited-llm" / "graph.pbtxt"
    original = graph.read_text()

    graph.write_text(original.replace("max_num_seqs: 64", "max_num_seqs: 4"))
    answer = _reload(rest)
    assert answer.status_code == 412  # the broken entry is reported at every reload
    assert BROKEN in answer.json()["error"]
    assert "edited-llm" not in answer.json()["error"]
    assert server.log_text().count("Generative model edited-llm (text_generation) loaded") == 2

    graph.write_text(original.replace("max_num_seqs: 64", "no_such_option: 1"))
    answer = _reload(rest)
    assert answer.status_code == 412
    assert "edited-llm" in answer.json()["error"]
    assert "no_such_option" in answer.json()["error"]
    kept = client.completions.create(model="edited-llm", prompt="Hi", max_tokens=3, temperature=0)
    assert kept.choices[0].finish_reason == "length"  # the previous build keeps serving
    assert _state(_status(rest), "edited-llm")["state"] == "AVAILABLE"

    graph.write_text(original + "\nnode {{{ broken")
    answer = _reload(rest)
    assert answer.status_code == 412
    error = answer.json()["error"]
    assert "edited-llm" in error and "expected a field name, not '{'" in error
    kept = client.completions.create(model="edited-llm", prompt="Hi", max_tokens=3, temperature=0)
    assert kept.choices[0].finish_reason == "length"

    graph.write_text(original)
    document = _config(models)
    document["mediapipe_config_list"] = [e for e in document["mediapipe_config_list"] if e["name"] != BROKEN]
    _write(models, document)
    assert _reload(rest).status_code == 201
    assert BROKEN not in [m["name"] for m in rest.post("/v2/repository/index", json={"ready": True}).json()]


def test_removing_a_model_lets_its_stream_finish_then_unloads_it(
    server: ServerProcess, rest: httpx.Client, models: Path
) -> None:
    client = openai.OpenAI(base_url=f"http://{server.rest_url}/v3", api_key="unused", max_retries=0)
    stream = client.completions.create(
        model="edited-llm",
        prompt="Once",
        max_tokens=300,
        temperature=0,
        stream=True,
        extra_body={"ignore_eos": True},
    )
    first = next(iter(stream))
    assert first.choices[0].finish_reason is None
    document = _config(models)
    document["mediapipe_config_list"] = [
        e for e in document["mediapipe_config_list"] if e["name"] != "edited-llm"
    ]
    _write(models, document)
    reloaded: list[int] = []
    reload = threading.Thread(target=lambda: reloaded.append(_reload(rest).status_code))
    reload.start()
    rest_of_it = list(stream)
    reload.join(60)
    assert reloaded == [201]
    assert rest_of_it[-1].choices[0].finish_reason == "length"
    assert _state(_status(rest), "edited-llm")["state"] == "END"
    assert rest.get("/v2/models/edited-llm/ready").status_code == 404
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="edited-llm", prompt="Hi", max_tokens=2)
    assert client.completions.create(model=LLM, prompt="Hi", max_tokens=2).choices  # the others serve on


def test_model_path_naming_a_graph_folder_serves_the_graph(models: Path, tmp_path: Path) -> None:
    """README's ``ovms --model_path ./folder-with-graph.pbtxt --model_name llm``: no --task needed."""
    args = ["--model_path", str(models / LLM), "--model_name", "llm"]
    running = start_server(args, tmp_path / "ovms.log")
    try:
        client = openai.OpenAI(base_url=f"http://{running.rest_url}/v3", api_key="unused", max_retries=0)
        answer = client.completions.create(model="llm", prompt="hello", max_tokens=2, temperature=0)
        assert answer.choices[0].text is not None
        assert "No version found" not in running.log_text()
    finally:
        assert running.stop() == 0, running.log_text()
