"""docs/openapi.yaml and the server's routes describe the same REST API, so neither can go stale."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import openvino as ov
import pytest
import yaml
from starlette.routing import Route

from ovms_cli.servables.generative.host import GenerativeHost
from ovms_cli.servables.manager import ModelManager
from ovms_cli.transports import rest_tfs
from ovms_cli.transports.gate import Gate
from ovms_cli.transports.rest import create_app
from ovms_cli.transports.rest_openai import OpenAiRoutes

OPENAPI = Path(__file__).parents[2] / "docs" / "openapi.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
TFS_PREFIX = "/v1/models"
TFS_TARGETS = ("", "/versions/{version}", "/labels/{label}")
TFS_ACTIONS = (("get", ""), ("get", "/metadata"), ("post", ":predict"))
SAMPLES = {"name": "my model", "version": "3", "label": "stable"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(OPENAPI.read_text())
    return loaded


@pytest.fixture(scope="module")
def routes() -> list[Route]:
    core = ov.Core()
    openai = OpenAiRoutes(GenerativeHost(core), Gate()).routes()
    app = create_app(ModelManager(core), extra_routes=openai)
    return [route for route in app.routes if isinstance(route, Route)]


def _operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def _route_operations(routes: list[Route]) -> set[tuple[str, str]]:
    """Starlette routes as (path template, method), convertors dropped; HEAD is Starlette's own."""
    return {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method.lower())
        for route in routes
        if not route.path.startswith(TFS_PREFIX)
        for method in route.methods or ()
        if method != "HEAD"
    }


def test_every_starlette_route_is_documented_and_every_documented_path_is_a_route(
    document: dict[str, Any], routes: list[Route]
) -> None:
    documented = {(p, m) for p, m in _operations(document) if not p.startswith(TFS_PREFIX)}
    assert _route_operations(routes) == documented


def test_the_tfs_paths_are_the_whole_url_grammar(document: dict[str, Any], routes: list[Route]) -> None:
    """TFS REST is one catch-all route matched by OVMS's regular expressions (spec §4.1)."""
    assert [r.path for r in routes if r.path.startswith(TFS_PREFIX)] == [TFS_PREFIX + "{rest:path}"]
    expected = {
        (f"{TFS_PREFIX}/{{name}}{target}{suffix}", method)
        for target in TFS_TARGETS
        for method, suffix in TFS_ACTIONS
    }
    assert {(p, m) for p, m in _operations(document) if p.startswith(TFS_PREFIX)} == expected


@pytest.mark.parametrize(("target", "action"), [(t, a) for t in TFS_TARGETS for a in TFS_ACTIONS])
def test_each_documented_tfs_path_is_matched_by_the_router_as_documented(
    target: str, action: tuple[str, str]
) -> None:
    method, suffix = action
    path = f"{TFS_PREFIX}/{{name}}{target}{suffix}".format(**SAMPLES)
    pattern = rest_tfs._PREDICT if method == "post" else rest_tfs._STATUS
    match = pattern.fullmatch(path)
    assert match is not None, path
    assert match["name"] == SAMPLES["name"]
    assert match["version"] == (SAMPLES["version"] if "version" in target else None)
    other = rest_tfs._STATUS if method == "post" else rest_tfs._PREDICT
    assert other.fullmatch(path) is None


def test_every_operation_documents_its_parameters_and_a_success(document: dict[str, Any]) -> None:
    for path, method in _operations(document):
        operation = document["paths"][path][method]
        declared = {
            p["name"] for p in _resolved(document, operation.get("parameters", [])) if p["in"] == "path"
        }
        assert declared == set(re.findall(r"\{(\w+)\}", path)), (path, method)
        if operation.get("x-always-refused"):  # CUDA shared memory without a GPU: the client's error, always
            assert {code[0] for code in operation["responses"]} == {"4"}, (path, method)
            continue
        assert any(code.startswith("2") for code in operation["responses"]), (path, method)


def _resolved(document: dict[str, Any], parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for parameter in parameters:
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        out.append(parameter)
    return out
