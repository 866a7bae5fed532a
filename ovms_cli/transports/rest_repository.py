"""The KServe v2 repository extension over REST (``/v2/repository/...``), as tritonclient.http calls it.

A name with ``/`` matches no route (404), as for ``/v2/models/{name}``; the core refuses ``..``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ovms_cli.protocol import kserve_repository as codec
from ovms_cli.servables.model_control import ModelControl
from ovms_cli.transports.errors import rest_errors

JSON = "application/json"


class RepositoryRoutes:
    def __init__(self, control: ModelControl) -> None:
        self._control = control

    async def index(self, request: Request) -> Response:
        ready_only = codec.decode_rest_index(await request.body())
        entries = await self._control.index(ready_only=ready_only)
        return Response(codec.encode_rest_index(entries), media_type=JSON)

    async def load(self, request: Request) -> Response:
        load = codec.decode_rest_load(request.path_params["name"], await request.body())
        await self._control.load(load.name, load.config)
        return Response(status_code=200)

    async def unload(self, request: Request) -> Response:
        unload = codec.decode_rest_unload(request.path_params["name"], await request.body())
        await self._control.unload(unload.name, unload.unload_dependents)
        return Response(status_code=200)

    def routes(self) -> list[Route]:
        model = "/v2/repository/models/{name}"
        return [
            Route("/v2/repository/index", rest_errors(self.index), methods=["POST"]),
            Route(model + "/load", rest_errors(self.load), methods=["POST"]),
            Route(model + "/unload", rest_errors(self.unload), methods=["POST"]),
        ]
