from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from builders import affine_model, fixed_batch_model, write_ir

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.errors import NotReady, VersionNotFound
from ovms_cli.repository.version_policy import AllPolicy, LatestPolicy, SpecificPolicy
from ovms_cli.servables.model import Model
from ovms_cli.servables.states import ErrorCode, State


def _broken(base: Path, version: int) -> None:
    (base / str(version)).mkdir(parents=True)
    (base / str(version) / "model.onnx").write_bytes(b"garbage")


def _states(model: Model) -> dict[int, tuple[State, ErrorCode]]:
    return {n: (v.state, v.status.error_code) for n, v in model.versions.items()}


def test_latest_falls_back_past_a_version_that_fails_to_load(repo: Path, core: ov.Core) -> None:
    write_ir(affine_model(), repo, 1)
    write_ir(affine_model(), repo, 2)
    _broken(repo, 3)
    model = Model(ModelConfig("m", str(repo), version_policy=LatestPolicy(1)))
    model.load(core)
    assert _states(model) == {3: (State.LOADING, ErrorCode.UNKNOWN), 2: (State.AVAILABLE, ErrorCode.OK)}
    assert "cannot read" in model.versions[3].status.reason
    assert model.version(None).version == 2
    with pytest.raises(NotReady, match="not loaded yet"):
        _ = model.version(3).loaded


def test_all_and_specific_policies(repo: Path, core: ov.Core) -> None:
    for version in (1, 2, 3):
        write_ir(affine_model(), repo, version)
    everything = Model(ModelConfig("m", str(repo), version_policy=AllPolicy()))
    everything.load(core)
    assert everything.available_versions() == (1, 2, 3)
    chosen = Model(ModelConfig("m", str(repo), version_policy=SpecificPolicy((1, 3, 7))))
    chosen.load(core)
    assert chosen.available_versions() == (1, 3)
    with pytest.raises(VersionNotFound, match="version: 7"):
        chosen.version(7)


def test_a_model_without_versions_has_no_default(repo: Path, core: ov.Core) -> None:
    repo.mkdir(parents=True)
    model = Model(ModelConfig("m", str(repo)))
    model.load(core)
    assert model.versions == {}
    with pytest.raises(VersionNotFound) as raised:
        model.version(None)
    assert raised.value.http_status == 404


def test_batch_size_and_shape_reshape_the_model(repo: Path, core: ov.Core) -> None:
    write_ir(affine_model(), repo, 1)
    model = Model(ModelConfig("m", str(repo), batch_size=__import__("ovms_cli.inference.shapes").inference.shapes.Dim.fixed(3)))
    model.load(core)
    [spec] = model.version(1).loaded.inputs.values()
    assert spec.metadata().shape == (3, 4)


def test_unloading_retires_versions_to_end(repo: Path, core: ov.Core) -> None:
    write_ir(fixed_batch_model(), repo, 1)
    model = Model(ModelConfig("m", str(repo)))
    model.load(core)
    model.unload()
    assert model.versions[1].state is State.END
    with pytest.raises(Exception, match="retired"):
        _ = model.versions[1].loaded
    assert np.float32(0) == 0
