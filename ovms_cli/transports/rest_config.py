"""``GET /v1/config`` and ``POST /v1/config/reload`` (spec §4.6, §4.7)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ovms_cli.protocol import tfs_rest
from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.watcher import Watcher
from ovms_cli.transports.errors import rest_errors

JSON = "application/json"


class ConfigRoutes:
    def __init__(self, manager: ModelManager, watcher: Watcher) -> None:
        self._manager = manager
        self._watcher = watcher

    async def status(self, request: Request) -> Response:
        return Response(self._document(), media_type=JSON)

    async def reload(self, request: Request) -> Response:
        """201 when something was loaded or retired, 200 when nothing changed."""
        changed = await self._watcher.check()
        return Response(self._document(), status_code=201 if changed else 200, media_type=JSON)

    def _document(self) -> bytes:
        statuses = {name: self._manager.model_status(name, None) for name in self._manager.names()}
        return tfs_rest.encode_config_status(statuses)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/config", rest_errors(self.status), methods=["GET"]),
            Route("/v1/config/reload", rest_errors(self.reload), methods=["POST"]),
        ]
