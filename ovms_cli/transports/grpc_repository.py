"""The KServe v2 repository extension over gRPC: ``RepositoryIndex``, ``RepositoryModelLoad`` and
``RepositoryModelUnload`` of ``inference.GRPCInferenceService``, as tritonclient calls them.

Registered as a second generic handler of the same service name (grpc_kserve.py serves the rest):
gRPC finds a method by its full name, so the two handlers share the service.
"""

from __future__ import annotations

from typing import Any

import grpc

from ovms_cli._proto import grpc_repository_v2_pb2 as pb
from ovms_cli.protocol import kserve_repository as codec
from ovms_cli.servables.model_control import ModelControl
from ovms_cli.transports.errors import grpc_errors
from ovms_cli.transports.grpc_kserve import SERVICE


class RepositoryServicer:
    def __init__(self, control: ModelControl) -> None:
        self._control = control

    @grpc_errors
    async def RepositoryIndex(
        self, request: pb.RepositoryIndexRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepositoryIndexResponse:
        entries = await self._control.index(ready_only=codec.decode_grpc_index(request))
        return codec.encode_grpc_index(entries)

    @grpc_errors
    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepositoryModelLoadResponse:
        load = codec.decode_grpc_load(request)
        await self._control.load(load.name, load.config)
        return pb.RepositoryModelLoadResponse()

    @grpc_errors
    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepositoryModelUnloadResponse:
        unload = codec.decode_grpc_unload(request)
        await self._control.unload(unload.name, unload.unload_dependents)
        return pb.RepositoryModelUnloadResponse()


def add_to_server(server: grpc.aio.Server, control: ModelControl) -> None:
    servicer = RepositoryServicer(control)

    def unary(method: Any, request_type: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(
            method,
            request_deserializer=request_type.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )

    handlers = {
        "RepositoryIndex": unary(servicer.RepositoryIndex, pb.RepositoryIndexRequest),
        "RepositoryModelLoad": unary(servicer.RepositoryModelLoad, pb.RepositoryModelLoadRequest),
        "RepositoryModelUnload": unary(servicer.RepositoryModelUnload, pb.RepositoryModelUnloadRequest),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
