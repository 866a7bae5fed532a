"""The TensorFlow Serving gRPC services (``tensorflow.serving.PredictionService`` and ``ModelService``)."""

from __future__ import annotations

from typing import Any

import grpc

from ovms_cli._proto.tensorflow_serving.apis import classification_pb2 as classification
from ovms_cli._proto.tensorflow_serving.apis import get_model_metadata_pb2 as metadata
from ovms_cli._proto.tensorflow_serving.apis import get_model_status_pb2 as status
from ovms_cli._proto.tensorflow_serving.apis import inference_pb2 as inference
from ovms_cli._proto.tensorflow_serving.apis import model_management_pb2 as management
from ovms_cli._proto.tensorflow_serving.apis import predict_pb2 as predict
from ovms_cli._proto.tensorflow_serving.apis import regression_pb2 as regression
from ovms_cli.errors import Unimplemented
from ovms_cli.metrics import TFS
from ovms_cli.protocol import tfs
from ovms_cli.protocol import tfs_grpc as codec
from ovms_cli.servables.manager import ModelManager
from ovms_cli.transports.errors import grpc_errors
from ovms_cli.transports.tracker import RequestTracker

PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"


class PredictionServicer:
    def __init__(self, manager: ModelManager) -> None:
        self._manager = manager

    async def Predict(self, request: predict.PredictRequest, context: grpc.aio.ServicerContext) -> bytes:
        """Answers serialized bytes: tensors go into the reply in one copy (see add_to_server)."""
        core_request = codec.decode_predict_request(request)
        served = self._manager.tfs_servable(core_request.model_name, core_request.model_version)
        response = await self._manager.infer(core_request, served)
        return codec.serialize_predict_response(response)

    async def GetModelMetadata(
        self, request: metadata.GetModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> metadata.GetModelMetadataResponse:
        name, version = codec.decode_metadata_request(request)
        served = self._manager.tfs_servable(name, version)
        return codec.encode_model_metadata(self._manager.metadata(name, version, served), served.version)

    @grpc_errors
    async def Classify(self, request: object, context: grpc.aio.ServicerContext) -> None:
        raise Unimplemented("Classify is not supported; use Predict")

    @grpc_errors
    async def Regress(self, request: object, context: grpc.aio.ServicerContext) -> None:
        raise Unimplemented("Regress is not supported; use Predict")

    @grpc_errors
    async def MultiInference(self, request: object, context: grpc.aio.ServicerContext) -> None:
        raise Unimplemented("MultiInference is not supported; use Predict")


class ModelServicer:
    def __init__(self, manager: ModelManager) -> None:
        self._manager = manager

    async def GetModelStatus(
        self, request: status.GetModelStatusRequest, context: grpc.aio.ServicerContext
    ) -> status.GetModelStatusResponse:
        name, version = codec.decode_status_request(request)
        return codec.encode_model_status(self._manager.model_status(name, version))

    async def HandleReloadConfigRequest(
        self, request: management.ReloadConfigRequest, context: grpc.aio.ServicerContext
    ) -> management.ReloadConfigResponse:
        """Accepted and ignored, as OVMS does: the configuration comes from config.json."""
        return management.ReloadConfigResponse()


def add_to_server(
    server: grpc.aio.Server, manager: ModelManager, tracker: RequestTracker | None = None
) -> None:
    """Register both services; Predict has no response serializer because it returns bytes."""
    predictions = PredictionServicer(manager)
    models = ModelServicer(manager)
    track = tracker or RequestTracker()
    target = tfs.model_target
    prediction_handlers = {
        "Predict": _unary(
            track.grpc(predictions.Predict, TFS, "Predict", target), predict.PredictRequest, serialize=False
        ),
        "GetModelMetadata": _unary(
            track.grpc(predictions.GetModelMetadata, TFS, "GetModelMetadata", target),
            metadata.GetModelMetadataRequest,
        ),
        "Classify": _unary(predictions.Classify, classification.ClassificationRequest),
        "Regress": _unary(predictions.Regress, regression.RegressionRequest),
        "MultiInference": _unary(predictions.MultiInference, inference.MultiInferenceRequest),
    }
    model_handlers = {
        "GetModelStatus": _unary(
            track.grpc(models.GetModelStatus, TFS, "GetModelStatus", target), status.GetModelStatusRequest
        ),
        "HandleReloadConfigRequest": _unary(models.HandleReloadConfigRequest, management.ReloadConfigRequest),
    }
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(PREDICTION_SERVICE, prediction_handlers),
            grpc.method_handlers_generic_handler(MODEL_SERVICE, model_handlers),
        )
    )


def _unary(method: Any, request_type: Any, serialize: bool = True) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(
        method,
        request_deserializer=request_type.FromString,
        response_serializer=_serialize if serialize else None,
    )


def _serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data
