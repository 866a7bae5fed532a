"""ModelManager.apply: models leaving the configuration (manager)."""

import asyncio
from pathlib import Path

import openvino as ov
import pytest
from builders import affine_model, write_ir

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.errors import ModelNotFound
from ovms_cli.servables.manager import ModelManager
from ovms_cli.types import ErrorCode, State


def _states(manager: ModelManager, name: str) -> list[tuple[int, State, ErrorCode]]:
    return [(s.version, s.state, s.error_code) for s in manager.model_status(name, None)]


def test_a_removed_model_whose_versions_failed_to_load_ends_them(tmp_path: Path) -> None:
    write_ir(affine_model(), tmp_path / "good", 1)
    (tmp_path / "bad" / "1").mkdir(parents=True)
    (tmp_path / "bad" / "1" / "model.onnx").write_bytes(b"garbage")
    manager = ModelManager(ov.Core())
    good, bad = ModelConfig("good", str(tmp_path / "good")), ModelConfig("bad", str(tmp_path / "bad"))
    asyncio.run(manager.load([good, bad]))
    assert _states(manager, "bad") == [(1, State.LOADING, ErrorCode.UNKNOWN)]

    assert asyncio.run(manager.apply([good]))

    assert _states(manager, "bad") == [(1, State.END, ErrorCode.OK)]
    assert _states(manager, "good") == [(1, State.AVAILABLE, ErrorCode.OK)]


def test_a_removed_model_that_had_no_version_is_not_found(tmp_path: Path) -> None:
    write_ir(affine_model(), tmp_path / "good", 1)
    manager = ModelManager(ov.Core())
    good, missing = ModelConfig("good", str(tmp_path / "good")), ModelConfig("missing", str(tmp_path / "no"))
    asyncio.run(manager.load([good, missing]))
    assert manager.model_status("missing", None) == ()

    asyncio.run(manager.apply([good]))

    for lookup in (
        lambda: manager.model_status("missing", None),
        lambda: manager.metadata("missing", None),
        lambda: manager.resolve("missing", None),
    ):
        with pytest.raises(ModelNotFound, match="Model with requested name is not found"):
            lookup()
    assert list(manager.models) == ["good"]
