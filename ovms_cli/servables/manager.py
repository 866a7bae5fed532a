"""The servables a server holds and the protocol-free operations every API is built from."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import openvino as ov

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.errors import ModelNotFound, NotReady, VersionNotFound
from ovms_cli.inference.request import InferenceRequest, InferenceResponse
from ovms_cli.servables.metadata import ModelMetadata
from ovms_cli.servables.model import Model
from ovms_cli.servables.model_version import ModelVersion
from ovms_cli.servables.states import State, VersionStatus

log = logging.getLogger("ovms.modelmanager")


class ModelManager:
    def __init__(self, core: ov.Core | None = None) -> None:
        self.core = core or ov.Core()
        self.models: dict[str, Model] = {}
        self.ready = False

    async def load(self, configs: Sequence[ModelConfig]) -> None:
        """Load every configured model off the event loop; the server is ready afterwards."""
        for config in configs:
            model = Model(config)
            self.models[config.name] = model
            await asyncio.to_thread(model.load, self.core)
        self.ready = True

    def unload(self) -> None:
        for model in self.models.values():
            model.unload()

    def model(self, name: str) -> Model:
        found = self.models.get(name)
        if found is None:
            raise ModelNotFound(name)
        return found

    def version(self, name: str, version: int | None) -> ModelVersion:
        return self.model(name).version(version)

    def is_model_ready(self, name: str, version: int | None) -> bool:
        """Whether the version (default: the highest available) serves now.

        A model whose versions are still loading is not ready; one that has no version to serve,
        or an unknown version, is NotFound.
        """
        try:
            return self.version(name, version).state is State.AVAILABLE
        except NotReady:
            return False

    def model_status(self, name: str, version: int | None) -> tuple[VersionStatus, ...]:
        """Every version the model ever registered, in any state, ascending; or only ``version``."""
        model = self.model(name)
        if version is None:
            return tuple(model.versions[number].status for number in sorted(model.versions))
        found = model.versions.get(version)
        if found is None:
            raise VersionNotFound(name, version)
        return (found.status,)

    def metadata(self, name: str, version: int | None) -> ModelMetadata:
        model = self.model(name)
        served = model.version(version)
        return ModelMetadata(
            name=name,
            versions=model.available_versions(),
            inputs=served.input_metadata(),
            outputs=served.output_metadata(),
        )

    async def infer(self, request: InferenceRequest) -> InferenceResponse:
        served = self.version(request.model_name, request.model_version)
        outputs = await served.infer(request.inputs, request.requested_outputs)
        return InferenceResponse(request.model_name, served.version, outputs, request.id)
