"""Routing a request's sequence, on real model versions loaded from IR files."""

from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from builders import write_ir
from stateful_builders import RUNNING_SUM_WIDTH, running_sum_model

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.errors import InvalidInput, NotFound
from ovms_cli.repository.source import open_source
from ovms_cli.servables.model_loader import Runtime
from ovms_cli.servables.model_version import ModelVersion
from ovms_cli.servables.stateful.request_routing import infer_servable
from ovms_cli.types import InferenceRequest, SpecialInput


def loaded(tmp_path: Path, core: ov.Core, *, stateful: bool) -> ModelVersion:
    base = write_ir(running_sum_model(), tmp_path / ("stateful" if stateful else "plain"))
    config = ModelConfig(name="sum", base_path=str(base), stateful=stateful, nireq=1)
    version = ModelVersion("sum", 1, open_source(str(base)), config)
    version.load(Runtime(core))
    return version


def request(
    x: np.ndarray,
    sequence_id: int | None = None,
    control: int | None = None,
    params: dict[str, object] | None = None,
) -> InferenceRequest:
    special = {}
    if sequence_id is not None:
        special["sequence_id"] = SpecialInput.from_array(np.array([sequence_id], np.uint64))
    if control is not None:
        special["sequence_control_input"] = SpecialInput.from_array(np.array([control], np.uint32))
    return InferenceRequest("sum", None, {"x": x}, special_inputs=special, parameters=params or {})  # type: ignore[arg-type]


async def test_a_stateful_version_runs_the_sequence_and_answers_its_id(tmp_path: Path, core: ov.Core) -> None:
    version = loaded(tmp_path, core, stateful=True)
    ones = np.ones((1, RUNNING_SUM_WIDTH), np.float32)
    first = await infer_servable(version, request(ones, 3, 1))
    second = await infer_servable(version, request(ones, params={"sequence_id": 3, "sequence_start": False}))
    assert second["sequence_id"].tolist() == [3]
    np.testing.assert_array_equal(second["sum"], 2 * first["sum"])
    assert (await infer_servable(version, request(ones, 3, 2)))["sum"].tolist() == (3 * ones).tolist()


async def test_requested_outputs_keep_sequence_id(tmp_path: Path, core: ov.Core) -> None:
    version = loaded(tmp_path, core, stateful=True)
    ones = np.ones((1, RUNNING_SUM_WIDTH), np.float32)
    asked = request(ones, 0, 1)
    asked.requested_outputs = ("sum",)
    assert set(await infer_servable(version, asked)) == {"sum", "sequence_id"}
    asked.requested_outputs = ("sequence_id",)
    assert set(await infer_servable(version, request(ones, 0, 1))) == {"sum", "sequence_id"}


async def test_a_stateful_version_needs_a_sequence(tmp_path: Path, core: ov.Core) -> None:
    version = loaded(tmp_path, core, stateful=True)
    with pytest.raises(InvalidInput, match="Sequence ID has not been provided"):
        await infer_servable(version, request(np.ones((1, RUNNING_SUM_WIDTH), np.float32)))
    with pytest.raises(InvalidInput, match="Sequence ID has not been provided"):
        await version.infer({"x": np.ones((1, RUNNING_SUM_WIDTH), np.float32)})


async def test_retiring_drops_the_sequences(tmp_path: Path, core: ov.Core) -> None:
    version = loaded(tmp_path, core, stateful=True)
    ones = np.ones((1, RUNNING_SUM_WIDTH), np.float32)
    await infer_servable(version, request(ones, 8, 1))
    store = version.sequence_store()
    assert store is not None and 8 in store
    await version.retire(release=False)
    assert len(store) == 0 and store.counts.dropped == 1
    assert version.sequence_store() is None


async def test_other_servables_get_special_inputs_as_inputs_and_refuse_parameters(
    tmp_path: Path, core: ov.Core
) -> None:
    version = loaded(tmp_path, core, stateful=False)
    ones = np.ones((1, RUNNING_SUM_WIDTH), np.float32)
    assert set(await infer_servable(version, request(ones))) == {"sum"}
    with pytest.raises(InvalidInput, match="Invalid number of inputs"):
        await infer_servable(version, request(ones, 5, 1))
    with pytest.raises(InvalidInput, match="only accepted by stateful models - parameters: sequence_id"):
        await infer_servable(version, request(ones, params={"sequence_id": 5}))


async def test_an_unknown_sequence_is_not_found(tmp_path: Path, core: ov.Core) -> None:
    version = loaded(tmp_path, core, stateful=True)
    with pytest.raises(NotFound):
        await infer_servable(version, request(np.ones((1, RUNNING_SUM_WIDTH), np.float32), 99, 0))
