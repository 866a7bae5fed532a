"""The KServe v2 gRPC service (``inference.GRPCInferenceService``) over the core."""

from __future__ import annotations

import grpc

from ovms_cli import __version__
from ovms_cli._proto import grpc_predict_v2_pb2 as pb
from ovms_cli._proto import grpc_predict_v2_pb2_grpc as pb_grpc
from ovms_cli.errors import Unimplemented
from ovms_cli.protocol import kserve_grpc as codec
from ovms_cli.servables.manager import ModelManager
from ovms_cli.transports.errors import grpc_errors

SERVER_NAME = "OpenVINO Model Server"


class KServeServicer(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    def __init__(self, manager: ModelManager) -> None:
        self._manager = manager

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self._manager.ready)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=__version__)

    @grpc_errors
    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelReadyResponse:
        version = codec.parse_version(request.version)
        return pb.ModelReadyResponse(ready=self._manager.is_model_ready(request.name, version))

    @grpc_errors
    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        version = codec.parse_version(request.version)
        return codec.encode_model_metadata(self._manager.metadata(request.name, version))

    @grpc_errors
    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        response = await self._manager.infer(codec.decode_infer_request(request))
        return codec.encode_infer_response(response)

    @grpc_errors
    async def ModelStreamInfer(self, request_iterator: object, context: grpc.aio.ServicerContext) -> None:
        raise Unimplemented("ModelStreamInfer is not supported")


def add_to_server(server: grpc.aio.Server, manager: ModelManager) -> None:
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(KServeServicer(manager), server)
