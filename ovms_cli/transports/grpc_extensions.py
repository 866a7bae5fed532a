"""Triton's extensions of ``inference.GRPCInferenceService``: statistics, model configuration,
system and CUDA shared memory.

Registered as a second generic handler of the same service name as grpc_kserve.py's; gRPC asks each
handler in turn, so these methods sit beside KServe's without touching them.
"""

from __future__ import annotations

from typing import Any

import grpc

from ovms_cli._proto import grpc_service_extensions_pb2 as pb
from ovms_cli.errors import InvalidInput, NotFound
from ovms_cli.inference.shared_memory import SharedMemoryRegions
from ovms_cli.protocol.kserve import parse_version
from ovms_cli.protocol.triton_model_config import encode_model_config_message
from ovms_cli.protocol.triton_shared_memory import encode_status_message
from ovms_cli.protocol.triton_statistics import encode_statistics_message
from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.model_configuration import model_configuration
from ovms_cli.servables.model_statistics import model_statistics
from ovms_cli.transports.errors import grpc_errors

SERVICE = "inference.GRPCInferenceService"
NO_GPU = (
    "CUDA shared memory is not supported: this server runs on OpenVINO without CUDA (no GPU memory to share)"
)


class ExtensionsServicer:
    def __init__(self, manager: ModelManager, regions: SharedMemoryRegions) -> None:
        self._manager = manager
        self._regions = regions

    @grpc_errors
    async def ModelStatistics(
        self, request: pb.ModelStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelStatisticsResponse:
        found = model_statistics(self._manager, request.name, parse_version(request.version))
        return encode_statistics_message(found)

    @grpc_errors
    async def ModelConfig(
        self, request: pb.ModelConfigRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelConfigResponse:
        config = model_configuration(self._manager, request.name, parse_version(request.version))
        return encode_model_config_message(config)

    @grpc_errors
    async def SystemSharedMemoryStatus(
        self, request: pb.SystemSharedMemoryStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.SystemSharedMemoryStatusResponse:
        return encode_status_message(self._regions.status(request.name))

    @grpc_errors
    async def SystemSharedMemoryRegister(
        self, request: pb.SystemSharedMemoryRegisterRequest, context: grpc.aio.ServicerContext
    ) -> pb.SystemSharedMemoryRegisterResponse:
        self._regions.register(request.name, request.key, request.offset, request.byte_size)
        return pb.SystemSharedMemoryRegisterResponse()

    @grpc_errors
    async def SystemSharedMemoryUnregister(
        self, request: pb.SystemSharedMemoryUnregisterRequest, context: grpc.aio.ServicerContext
    ) -> pb.SystemSharedMemoryUnregisterResponse:
        self._regions.unregister(request.name)
        return pb.SystemSharedMemoryUnregisterResponse()

    @grpc_errors
    async def CudaSharedMemoryStatus(
        self, request: pb.CudaSharedMemoryStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.CudaSharedMemoryStatusResponse:
        if request.name:
            raise NotFound(f"Unable to find cuda shared memory region: '{request.name}'", NO_GPU)
        return pb.CudaSharedMemoryStatusResponse()

    @grpc_errors
    async def CudaSharedMemoryRegister(
        self, request: pb.CudaSharedMemoryRegisterRequest, context: grpc.aio.ServicerContext
    ) -> pb.CudaSharedMemoryRegisterResponse:
        raise InvalidInput(NO_GPU)

    @grpc_errors
    async def CudaSharedMemoryUnregister(
        self, request: pb.CudaSharedMemoryUnregisterRequest, context: grpc.aio.ServicerContext
    ) -> pb.CudaSharedMemoryUnregisterResponse:
        return pb.CudaSharedMemoryUnregisterResponse()  # nothing can be registered: nothing to forget


def add_to_server(server: grpc.aio.Server, manager: ModelManager, regions: SharedMemoryRegions) -> None:
    servicer = ExtensionsServicer(manager, regions)

    def unary(method: Any, request_type: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(
            method, request_deserializer=request_type.FromString, response_serializer=_serialize
        )

    handlers = {
        "ModelStatistics": unary(servicer.ModelStatistics, pb.ModelStatisticsRequest),
        "ModelConfig": unary(servicer.ModelConfig, pb.ModelConfigRequest),
        "SystemSharedMemoryStatus": unary(
            servicer.SystemSharedMemoryStatus, pb.SystemSharedMemoryStatusRequest
        ),
        "SystemSharedMemoryRegister": unary(
            servicer.SystemSharedMemoryRegister, pb.SystemSharedMemoryRegisterRequest
        ),
        "SystemSharedMemoryUnregister": unary(
            servicer.SystemSharedMemoryUnregister, pb.SystemSharedMemoryUnregisterRequest
        ),
        "CudaSharedMemoryStatus": unary(servicer.CudaSharedMemoryStatus, pb.CudaSharedMemoryStatusRequest),
        "CudaSharedMemoryRegister": unary(
            servicer.CudaSharedMemoryRegister, pb.CudaSharedMemoryRegisterRequest
        ),
        "CudaSharedMemoryUnregister": unary(
            servicer.CudaSharedMemoryUnregister, pb.CudaSharedMemoryUnregisterRequest
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


def _serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data
