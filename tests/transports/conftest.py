"""A manager with one loaded model and one whose only version is still loading."""

import asyncio

import openvino as ov
import pytest
from builders import affine_model, write_ir

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.model import Model
from ovms_cli.servables.model_version import ModelVersion


@pytest.fixture(scope="module")
def manager(tmp_path_factory: pytest.TempPathFactory) -> ModelManager:
    root = tmp_path_factory.mktemp("models")
    write_ir(affine_model(), root / "affine", 1)
    manager = ModelManager(ov.Core())
    ready = Model(ModelConfig("affine", str(root / "affine")))
    asyncio.run(ready.sync(manager.runtime, initial=True))
    loading = Model(ModelConfig("loading", str(root / "loading")))
    loading.versions[1] = ModelVersion("loading", 1, loading.source, loading.config)
    manager.models = {"affine": ready, "loading": loading}
    manager.ready = True
    return manager
