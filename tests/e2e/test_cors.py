"""CORS (``--allowed_origins`` ...) over a real server with httpx, with and without an API key."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from server_process import OVMS_SERVE, ServerProcess

from ovms_cli.cli.usage import EX_USAGE

ALLOWED = "https://app.example"
OTHER = "https://evil.example"
MODEL = "/v2/models/affine"
INFER = MODEL + "/infer"


def _preflight(client: httpx.Client, origin: str, method: str = "POST", headers: str = "") -> httpx.Response:
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    return client.options(INFER, headers=request_headers)


@pytest.fixture
def restricted(repository: Path, spawn_server: Callable[..., ServerProcess]) -> httpx.Client:
    server = spawn_server(
        [
            "--config_path", str(repository / "config.json"),
            "--allowed_origins", f"{ALLOWED}, http://localhost:3000",
            "--allowed_methods", "GET,POST",
            "--allowed_headers", "Content-Type,Authorization",
            "--allow_credentials",
        ]
    )  # fmt: skip
    return httpx.Client(base_url=f"http://{server.rest_url}")


def test_defaults_allow_any_origin(server: ServerProcess) -> None:
    with httpx.Client(base_url=f"http://{server.rest_url}") as client:
        answer = client.get(MODEL, headers={"Origin": OTHER})
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in answer.headers
        preflight = _preflight(client, OTHER, "POST", "X-Anything")
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert preflight.headers["access-control-allow-headers"].lower() == "x-anything"


def test_preflight_from_an_allowed_origin(restricted: httpx.Client) -> None:
    answer = _preflight(restricted, ALLOWED, "POST", "content-type")
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert set(answer.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}


@pytest.mark.parametrize(
    ("origin", "method", "headers", "refusal"),
    [
        (OTHER, "POST", "", "Disallowed CORS origin"),
        (ALLOWED, "DELETE", "", "Disallowed CORS method"),
        (ALLOWED, "POST", "X-Not-Allowed", "Disallowed CORS headers"),
    ],
)
def test_preflight_outside_the_allowed_lists_is_refused(
    restricted: httpx.Client, origin: str, method: str, headers: str, refusal: str
) -> None:
    answer = _preflight(restricted, origin, method, headers)
    assert (answer.status_code, answer.text) == (400, refusal)
    assert "DELETE" not in answer.headers.get("access-control-allow-methods", "")
    if origin == OTHER:
        assert "access-control-allow-origin" not in answer.headers


def test_simple_requests_carry_the_origin_only_when_allowed(restricted: httpx.Client) -> None:
    allowed = restricted.get(MODEL, headers={"Origin": ALLOWED})
    assert (allowed.status_code, allowed.headers["access-control-allow-origin"]) == (200, ALLOWED)
    other = restricted.get(MODEL, headers={"Origin": OTHER})
    assert other.status_code == 200  # CORS is the browser's check: the server only withholds the header
    assert "access-control-allow-origin" not in other.headers


def test_preflight_needs_no_api_key(
    repository: Path, tmp_path: Path, spawn_server: Callable[..., ServerProcess]
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("k3y\n")
    server = spawn_server(
        ["--config_path", str(repository / "config.json"), "--api_key_file", str(key_file),
         "--allowed_origins", ALLOWED]
    )  # fmt: skip
    with httpx.Client(base_url=f"http://{server.rest_url}") as client:
        preflight = _preflight(client, ALLOWED, "POST", "authorization,content-type")
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ALLOWED
        refused = client.get(MODEL, headers={"Origin": ALLOWED})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == ALLOWED  # the browser can read the 401
        served = client.get(MODEL, headers={"Origin": ALLOWED, "Authorization": "Bearer k3y"})
        assert (served.status_code, served.headers["access-control-allow-origin"]) == (200, ALLOWED)


def test_malformed_cors_option_is_a_usage_error(repository: Path) -> None:
    done = subprocess.run(
        [*OVMS_SERVE, "--config_path", str(repository / "config.json"), "--allowed_methods", "GET,,POST"],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == EX_USAGE
    assert b"allowed_methods: empty item" in done.stderr + done.stdout
