"""Triton's REST extensions: statistics, model configuration, system and CUDA shared memory.

Routes (Triton's HTTP protocol extensions, extension_statistics.md, extension_model_configuration.md,
extension_shared_memory.md):

- ``GET /v2/models/stats``, ``GET /v2/models/{name}[/versions/{version}]/stats``
- ``GET /v2/models/{name}[/versions/{version}]/config``
- ``GET /v2/systemsharedmemory[/region/{region}]/status``,
  ``POST /v2/systemsharedmemory/region/{region}/register``,
  ``POST /v2/systemsharedmemory[/region/{region}]/unregister``; the same under ``/v2/cudasharedmemory``,
  where status and unregister answer an empty set, a named region is not found and register is
  refused (400 / INVALID_ARGUMENT: no GPU).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ovms_cli.errors import InvalidInput, NotFound
from ovms_cli.inference.shared_memory import SharedMemoryRegions
from ovms_cli.protocol.triton_model_config import encode_model_config_json
from ovms_cli.protocol.triton_shared_memory import decode_register_body, encode_status_json
from ovms_cli.protocol.triton_statistics import encode_statistics_json
from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.model_configuration import model_configuration
from ovms_cli.servables.model_statistics import model_statistics
from ovms_cli.transports.errors import rest_errors
from ovms_cli.transports.grpc_extensions import NO_GPU

JSON = "application/json"


class ExtensionRoutes:
    def __init__(self, manager: ModelManager, regions: SharedMemoryRegions) -> None:
        self._manager = manager
        self._regions = regions

    async def statistics(self, request: Request) -> Response:
        name, version = request.path_params.get("name", ""), request.path_params.get("version")
        return Response(
            encode_statistics_json(model_statistics(self._manager, name, version)), media_type=JSON
        )

    async def config(self, request: Request) -> Response:
        name, version = request.path_params["name"], request.path_params.get("version")
        return Response(
            encode_model_config_json(model_configuration(self._manager, name, version)), media_type=JSON
        )

    async def shm_status(self, request: Request) -> Response:
        return Response(
            encode_status_json(self._regions.status(request.path_params.get("region", ""))), media_type=JSON
        )

    async def shm_register(self, request: Request) -> Response:
        registration = decode_register_body(await request.body())
        self._regions.register(
            request.path_params["region"], registration.key, registration.offset, registration.byte_size
        )
        return Response(status_code=200)

    async def shm_unregister(self, request: Request) -> Response:
        self._regions.unregister(request.path_params.get("region", ""))
        return Response(status_code=200)

    async def cuda_status(self, request: Request) -> Response:
        region = request.path_params.get("region", "")
        if region:
            raise NotFound(f"Unable to find cuda shared memory region: '{region}'", NO_GPU)
        return Response(b"[]", media_type=JSON)

    async def cuda_register(self, request: Request) -> Response:
        raise InvalidInput(NO_GPU)

    async def cuda_unregister(self, request: Request) -> Response:
        return Response(status_code=200)  # nothing can be registered: nothing to forget

    def routes(self) -> list[Route]:
        model = "/v2/models/{name}"
        versioned = model + "/versions/{version:int}"
        shm, cuda = "/v2/systemsharedmemory", "/v2/cudasharedmemory"
        post = ["POST"]
        routes = [Route("/v2/models/stats", rest_errors(self.statistics))]
        for prefix in (model, versioned):
            routes += [
                Route(prefix + "/stats", rest_errors(self.statistics)),
                Route(prefix + "/config", rest_errors(self.config)),
            ]
        for prefix, status, register, unregister in (
            (shm, self.shm_status, self.shm_register, self.shm_unregister),
            (cuda, self.cuda_status, self.cuda_register, self.cuda_unregister),
        ):
            region = prefix + "/region/{region}"
            routes += [
                Route(prefix + "/status", rest_errors(status)),
                Route(region + "/status", rest_errors(status)),
                Route(region + "/register", rest_errors(register), methods=post),
                Route(prefix + "/unregister", rest_errors(unregister), methods=post),
                Route(region + "/unregister", rest_errors(unregister), methods=post),
            ]
        return routes
