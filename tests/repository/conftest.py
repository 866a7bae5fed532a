"""Real object-store servers (moto, gcp-storage-emulator, Azurite) for the remote repository tests."""

from __future__ import annotations

import uuid

import pytest
from storage_servers import KINDS, StorageServer, clean_environ, shared, use_environment


@pytest.fixture(scope="module", params=KINDS)
def store_server(request: pytest.FixtureRequest) -> StorageServer:
    """One server of each kind for the whole run (pytest groups a module's tests by kind)."""
    return shared(request.param)


@pytest.fixture
def bucket(store_server: StorageServer) -> str:
    """A fresh bucket (container) on the server."""
    name = f"t{uuid.uuid4().hex[:12]}"
    store_server.create_bucket(name)
    return name


@pytest.fixture
def store_env(store_server: StorageServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's environment reaches ``store_server`` with valid credentials (and nothing else)."""
    env = clean_environ(store_server.env)
    use_environment(monkeypatch, env)
    return env
