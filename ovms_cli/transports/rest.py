"""The REST API (Starlette): KServe v2 routes over the core."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ovms_cli import __version__
from ovms_cli.errors import InvalidInput, NotReady
from ovms_cli.inference.shared_memory import SharedMemoryRegions
from ovms_cli.metrics import KSERVE, ServingMetrics
from ovms_cli.protocol import kserve_rest as codec
from ovms_cli.protocol import shared_memory
from ovms_cli.protocol.server_extensions import server_extensions
from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.model_control import ModelControl
from ovms_cli.servables.watcher import Watcher
from ovms_cli.transports import rest_tfs
from ovms_cli.transports.auth import ApiKey, RestApiKey
from ovms_cli.transports.content_encoding import ContentDecoding, ResponseEncoding
from ovms_cli.transports.cors import CorsSettings
from ovms_cli.transports.errors import http_exception_handler, rest_errors
from ovms_cli.transports.grpc_kserve import SERVER_NAME
from ovms_cli.transports.limits import BodyLimit
from ovms_cli.transports.rest_config import ConfigRoutes
from ovms_cli.transports.rest_extensions import ExtensionRoutes
from ovms_cli.transports.rest_repository import RepositoryRoutes
from ovms_cli.transports.tracker import RequestTracker, rest_call
from ovms_cli.types import State

JSON = "application/json"
HEADER_LENGTH = "inference-header-content-length"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class KServeRoutes:
    def __init__(
        self, manager: ModelManager, tracker: RequestTracker, regions: SharedMemoryRegions | None = None
    ) -> None:
        self._manager = manager
        self._tracker = tracker
        self._regions = regions  # None: tensors in shared memory are refused

    async def live(self, request: Request) -> Response:
        return Response(status_code=200)

    async def ready(self, request: Request) -> Response:
        if not self._manager.ready:
            raise NotReady("Server is not ready", "the initial model load has not finished")
        return Response(status_code=200)

    async def server_metadata(self, request: Request) -> Response:
        extensions = server_extensions(self._regions is not None and self._regions.takes_registrations)
        return Response(codec.encode_server_metadata(SERVER_NAME, __version__, extensions), media_type=JSON)

    async def model_metadata(self, request: Request) -> Response:
        name, version = _target(request)
        return Response(codec.encode_model_metadata(self._manager.metadata(name, version)), media_type=JSON)

    async def model_ready(self, request: Request) -> Response:
        name, version = _target(request)
        served = self._manager.resolve(name, version)
        if served.state is not State.AVAILABLE:
            raise served.unavailable_error()
        return Response(status_code=200)

    async def infer(self, request: Request) -> Response:
        name, version = _target(request)
        body = await request.body()
        core_request, output_format = codec.decode_infer_request(
            body, request.headers.get(HEADER_LENGTH), name, version, self._regions
        )
        response = await self._manager.infer(core_request)
        shared_memory.write_outputs(self._regions, output_format.shared_memory, response.outputs)
        content, headers = codec.encode_infer_response(response, output_format)
        return Response(content, headers=headers)

    def routes(self) -> list[Route]:
        model = "/v2/models/{name}"
        versioned = model + "/versions/{version:int}"
        routes = [
            Route("/v2", rest_errors(self.server_metadata)),
            Route("/v2/health/live", rest_errors(self.live)),
            Route("/v2/health/ready", rest_errors(self.ready)),
        ]
        track = self._tracker.rest
        metadata = track(self.model_metadata, rest_call(KSERVE, "ModelMetadata"))
        ready = track(self.model_ready, rest_call(KSERVE, "ModelReady"))
        infer = track(self.infer, rest_call(KSERVE, "ModelInfer"))
        for prefix in (model, versioned):
            routes += [
                Route(prefix, metadata),
                Route(prefix + "/ready", ready),
                Route(prefix + "/infer", infer, methods=["POST"]),
            ]
        return routes


def _target(request: Request) -> tuple[str, int | None]:
    version = request.path_params.get("version")
    return request.path_params["name"], version


def metrics_route(metrics: ServingMetrics | None) -> Route:
    """``GET /metrics``: the Prometheus text; when metrics are off, OVMS's answer to unknown URLs."""

    async def scrape(request: Request) -> Response:
        if metrics is None:
            raise InvalidInput("Invalid request URL")
        return Response(await metrics.scrape(), media_type=PROMETHEUS_TEXT)

    return Route("/metrics", rest_errors(scrape))


def create_app(
    manager: ModelManager,
    watcher: Watcher | None = None,
    tracker: RequestTracker | None = None,
    max_request_size: int | None = None,
    api_key: ApiKey | None = None,
    cors: CorsSettings | None = None,
    control: ModelControl | None = None,
    regions: SharedMemoryRegions | None = None,
    extra_routes: list[Route] | None = None,
) -> Starlette:
    """``regions``: the server's system shared memory (None: a registry of this app's own)."""
    watcher = watcher or Watcher(manager, None, 0)
    track = tracker or RequestTracker()
    regions = regions or SharedMemoryRegions()
    return Starlette(
        routes=[
            # first: Starlette tries routes in order (matching /v3/completions after the 31 others took
            # 100 us after an idle spell, traced, on the time to first token's path); none shares a prefix
            *(extra_routes or []),
            *ExtensionRoutes(manager, regions).routes(),  # before /v2/models/{name}: "stats" is no name
            *KServeRoutes(manager, track, regions).routes(),
            *ConfigRoutes(manager, watcher).routes(),
            *RepositoryRoutes(control or ModelControl(manager)).routes(),
            *rest_tfs.routes(manager, track),
            metrics_route(track.metrics),
        ],
        exception_handlers={HTTPException: http_exception_handler},
        middleware=[
            (cors or CorsSettings()).middleware(),  # outermost: preflights need no API key
            *([] if api_key is None else [Middleware(RestApiKey, key=api_key)]),
            *([] if max_request_size is None else [Middleware(BodyLimit, max_bytes=max_request_size)]),
            Middleware(ContentDecoding, max_bytes=max_request_size),
            Middleware(ResponseEncoding),
        ],
    )
