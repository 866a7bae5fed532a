"""The TensorFlow Serving REST API (``/v1/models/...``, spec §4) over the core.

One catch-all route reproduces OVMS's URL matcher (§4.1): Starlette's path parameters cannot split
``name:predict``, and OVMS answers a known path with the wrong method 406, an unknown one 400.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ovms_cli.errors import InvalidInput, NotFound, ServingError
from ovms_cli.metrics import REST, TFS, endpoint
from ovms_cli.protocol import tfs_rest as codec
from ovms_cli.servables.manager import ModelManager
from ovms_cli.transports.tracker import Call, RequestTracker

JSON = "application/json"
_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]  # the matcher answers each
_MAX_VERSION = 2**63 - 1
_VERSION_OR_LABEL = r"(?:/versions/(?P<version>\d+)|/labels/\w+)?"
_PREDICT = re.compile(rf"/v1/models/(?P<name>[^/:]+){_VERSION_OR_LABEL}:(?P<method>classify|regress|predict)")
_STATUS = re.compile(rf"/v1/models(?:/(?P<name>[^/:]+))?{_VERSION_OR_LABEL}(?P<metadata>/metadata)?")
_PREDICT_CALL = endpoint(TFS, REST, "Predict")
_METADATA_CALL = endpoint(TFS, REST, "GetModelMetadata")
_STATUS_CALL = endpoint(TFS, REST, "GetModelStatus")


class UnsupportedMethod(ServingError):
    """OVMS's answer to a method its REST matcher does not take on a path (REST only)."""

    http_status = 406


class TfsRoutes:
    def __init__(self, manager: ModelManager) -> None:
        self._manager = manager

    async def dispatch(self, request: Request) -> Response:
        path, method = _decoded_path(request), request.method
        predict, status = _PREDICT.fullmatch(path), _STATUS.fullmatch(path)
        if method == "POST" and predict:
            return await self.predict(request, predict)
        if method == "GET" and status:
            return self.metadata(status) if status["metadata"] else self.status(status)
        if predict or status or method not in ("GET", "POST"):
            raise UnsupportedMethod("Unsupported method", f"{method} {path}")
        raise InvalidInput("Invalid request URL", path)

    def status(self, match: re.Match[str]) -> Response:
        name, version = _target(match)
        return Response(codec.encode_model_status(self._manager.model_status(name, version)), media_type=JSON)

    def metadata(self, match: re.Match[str]) -> Response:
        name, version = _target(match)
        served = self._manager.tfs_servable(name, version)
        body = codec.encode_model_metadata(self._manager.metadata(name, version, served), served.version)
        return Response(body, media_type=JSON)

    async def predict(self, request: Request, match: re.Match[str]) -> Response:
        if match["method"] != "predict":
            raise NotFound("Requested REST resource not found", f":{match['method']} is not supported")
        name, version = _target(match)
        served = self._manager.tfs_servable(name, version)
        core_request, layout = codec.decode_predict_request(
            await request.body(), name, served.version, served.input_metadata()
        )
        response = await self._manager.infer(core_request, served)  # resolved once, above
        return Response(codec.encode_predict_response(response, layout), media_type=JSON)


def _target(match: re.Match[str]) -> tuple[str, int | None]:
    """Model name and version; version 0 or none is the default version, labels are ignored."""
    name = match["name"] or ""
    text = match["version"]
    if text is None:
        return name, None
    version = int(text)
    if version > _MAX_VERSION:
        raise NotFound("Model with requested version is not found", f"name: {name}; version: {text}")
    return name, version or None


def _describe(request: Request) -> Call | None:
    """The metric labels of a request, matched as ``dispatch`` matches it; None for other URLs."""
    path, method = _decoded_path(request), request.method
    try:
        if method == "POST" and (predict := _PREDICT.fullmatch(path)) and predict["method"] == "predict":
            return _PREDICT_CALL, *_target(predict)
        if method == "GET" and (status := _STATUS.fullmatch(path)) and status["name"]:
            return _METADATA_CALL if status["metadata"] else _STATUS_CALL, *_target(status)
    except NotFound:
        pass
    return None


def routes(manager: ModelManager, tracker: RequestTracker | None = None) -> list[Route]:
    dispatch = (tracker or RequestTracker()).rest(TfsRoutes(manager).dispatch, _describe)
    return [Route("/v1/models{rest:path}", dispatch, methods=_METHODS)]


def _decoded_path(request: Request) -> str:
    """The percent-decoded path as the server received it: ``request.url.path`` re-encodes ``?`` and
    ``#``, which would hide model names containing them."""
    path: str = request.scope["path"]
    return path
