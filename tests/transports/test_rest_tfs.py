"""TFS REST in-process: a request resolves its model version once (issue 13's front door)."""

from collections.abc import Iterator

import httpx
import pytest

from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.servable import Servable
from ovms_cli.transports.rest import create_app


@pytest.fixture
def resolved(
    manager: ModelManager, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[tuple[str, int | None]]]:
    """Every ``resolve`` call the requests make, as (name, version)."""
    calls: list[tuple[str, int | None]] = []
    real = manager.resolve

    def counting(name: str, version: int | None) -> Servable:
        calls.append((name, version))
        return real(name, version)

    monkeypatch.setattr(manager, "resolve", counting)
    yield calls


@pytest.fixture
async def client(manager: ModelManager) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(manager)), base_url="http://ovms")


async def test_predict_resolves_the_version_once(
    client: httpx.AsyncClient, resolved: list[tuple[str, int | None]]
) -> None:
    answer = await client.post("/v1/models/affine:predict", json={"instances": [[1, 2, 3, 4]]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["scaled"] == [3.0, 5.0, 7.0, 9.0]
    assert resolved == [("affine", None)]


async def test_kserve_infer_resolves_the_version_once(
    client: httpx.AsyncClient, resolved: list[tuple[str, int | None]]
) -> None:
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    answer = await client.post("/v2/models/affine/versions/1/infer", json=body)
    assert answer.status_code == 200, answer.text
    assert resolved == [("affine", 1)]
