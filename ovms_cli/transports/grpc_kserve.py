"""The KServe v2 gRPC service (``inference.GRPCInferenceService``) over the core."""

from __future__ import annotations

from typing import Any

import grpc

from ovms_cli import __version__
from ovms_cli._proto import grpc_predict_v2_pb2 as pb
from ovms_cli._proto import grpc_predict_v2_pb2_grpc as pb_grpc
from ovms_cli.inference.shared_memory import SharedMemoryRegions
from ovms_cli.metrics import KSERVE
from ovms_cli.protocol import kserve_grpc as codec
from ovms_cli.protocol import shared_memory
from ovms_cli.protocol.kserve_grpc_raw import RawInferRequest, parse_infer_request
from ovms_cli.protocol.server_extensions import server_extensions
from ovms_cli.servables.manager import ModelManager
from ovms_cli.transports.grpc_stream import StreamInfer
from ovms_cli.transports.tracker import RequestTracker, Target

SERVER_NAME = "OpenVINO Model Server"
SERVICE = "inference.GRPCInferenceService"


class KServeServicer(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    def __init__(self, manager: ModelManager, regions: SharedMemoryRegions | None = None) -> None:
        self._manager = manager
        self._regions = regions  # None: tensors in shared memory are refused

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
        extensions = server_extensions(self._regions is not None and self._regions.takes_registrations)
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=__version__, extensions=extensions)

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelReadyResponse:
        version = codec.parse_version(request.version)
        return pb.ModelReadyResponse(ready=self._manager.is_model_ready(request.name, version))

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        version = codec.parse_version(request.version)
        return codec.encode_model_metadata(self._manager.metadata(request.name, version))

    async def ModelInfer(self, request: RawInferRequest, context: grpc.aio.ServicerContext) -> bytes:
        """Answers serialized bytes: tensors go into the reply in one copy (see add_to_server).

        The request's tensor data stays in the received bytes (``kserve_grpc_raw``)."""
        message, regions = request.message, self._regions
        core_request = codec.decode_infer_request(message, regions, request.raw)
        windows = codec.output_windows(message, regions) if message.outputs else {}
        response = await self._manager.infer(core_request)
        shared_memory.write_outputs(regions, windows, response.outputs)
        return codec.serialize_infer_response(response, windows.keys())


def add_to_server(
    server: grpc.aio.Server,
    manager: ModelManager,
    tracker: RequestTracker | None = None,
    regions: SharedMemoryRegions | None = None,
) -> None:
    """Register the service; ModelInfer has no response serializer because it returns bytes."""
    servicer = KServeServicer(manager, regions)
    track = tracker or RequestTracker()

    def unary(method: Any, request_type: Any, serialize: bool = True) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(
            method,
            request_deserializer=getattr(request_type, "FromString", request_type),
            response_serializer=_serialize if serialize else None,
        )

    handlers = {
        "ServerLive": unary(servicer.ServerLive, pb.ServerLiveRequest),
        "ServerReady": unary(servicer.ServerReady, pb.ServerReadyRequest),
        "ModelReady": unary(
            track.grpc(servicer.ModelReady, KSERVE, "ModelReady", _target), pb.ModelReadyRequest
        ),
        "ServerMetadata": unary(servicer.ServerMetadata, pb.ServerMetadataRequest),
        "ModelMetadata": unary(
            track.grpc(servicer.ModelMetadata, KSERVE, "ModelMetadata", _target), pb.ModelMetadataRequest
        ),
        "ModelInfer": unary(
            track.grpc(servicer.ModelInfer, KSERVE, "ModelInfer", _infer_target),
            parse_infer_request,
            serialize=False,
        ),
        "ModelStreamInfer": grpc.stream_stream_rpc_method_handler(
            StreamInfer(manager, track, regions).stream,
            request_deserializer=pb.ModelInferRequest.FromString,
            response_serializer=_serialize,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


def _target(request: pb.ModelReadyRequest | pb.ModelMetadataRequest) -> Target:
    return request.name, codec.parse_version(request.version)


def _infer_target(request: RawInferRequest) -> Target:
    return request.message.model_name, codec.parse_version(request.message.model_version)


def _serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data
