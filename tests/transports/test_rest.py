import httpx
import numpy as np
import pytest

from ovms_cli.servables.manager import ModelManager
from ovms_cli.transports.rest import create_app


@pytest.fixture
async def client(manager: ModelManager) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(manager))
    return httpx.AsyncClient(transport=transport, base_url="http://ovms")


async def test_a_model_still_loading_answers_503(client: httpx.AsyncClient) -> None:
    for path in ("/v2/models/loading", "/v2/models/loading/ready", "/v2/models/loading/versions/1/ready"):
        answer = await client.get(path)
        assert answer.status_code == 503, path
        assert "not loaded yet" in answer.json()["error"]
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    answer = await client.post("/v2/models/loading/infer", json=body)
    assert answer.status_code == 503


async def test_server_readiness_follows_the_manager(client: httpx.AsyncClient, manager: ModelManager) -> None:
    assert (await client.get("/v2/health/ready")).status_code == 200
    manager.ready = False
    try:
        assert (await client.get("/v2/health/ready")).status_code == 503
        assert (await client.get("/v2/health/live")).status_code == 200
    finally:
        manager.ready = True


async def test_unknown_routes_and_versions_answer_json_errors(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v2/nothing/here")
    assert answer.status_code == 404
    assert answer.json() == {"error": "Not Found"}
    answer = await client.get("/v2/models/affine/versions/abc")
    assert answer.status_code == 404
    answer = await client.get("/v2/models/affine/versions/9")
    assert answer.status_code == 404
    assert "version" in answer.json()["error"]


async def test_infer_in_process(client: httpx.AsyncClient) -> None:
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    answer = await client.post("/v2/models/affine/versions/1/infer", json=body)
    assert answer.status_code == 200
    outputs = {o["name"]: o for o in answer.json()["outputs"]}
    np.testing.assert_array_equal(outputs["scaled"]["data"], [3, 5, 7, 9])
    assert outputs["total"] == {"name": "total", "datatype": "FP32", "shape": [1], "data": [10.0]}
