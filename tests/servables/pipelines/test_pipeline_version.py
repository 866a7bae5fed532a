"""PipelineVersion: the Servable of a pipeline — status, request checks against the input metadata."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from pipeline_builders import InProcessModels, square_model

from ovms_cli.errors import InvalidInput, NotFound, NotReady
from ovms_cli.servables.pipelines import pipeline_version
from ovms_cli.servables.pipelines.definition import parse_pipeline
from ovms_cli.servables.pipelines.pipeline import build_pipeline
from ovms_cli.servables.pipelines.pipeline_version import PipelineVersion
from ovms_cli.types import ErrorCode, State, VersionStatus

X = np.ones((2, 4), np.float32)
CONFIG = {
    "name": "p",
    "inputs": ["x", "free"],
    "nodes": [
        {
            "name": "sq",
            "type": "DL model",
            "model_name": "square",
            "inputs": [{"x": {"node_name": "request", "data_item": "x"}}],
            "outputs": [{"data_item": "y", "alias": "y"}],
        },
        {
            "name": "scale",
            "type": "python",
            "handler": "pipeline_python_nodes:Scale",
            "inputs": [{"x": {"node_name": "request", "data_item": "free"}}],
            "outputs": [{"data_item": "scaled", "alias": "s"}],
        },
    ],
    "outputs": [
        {"y": {"node_name": "sq", "data_item": "y"}},
        {"s": {"node_name": "scale", "data_item": "s"}},
    ],
}


@pytest.fixture
def version() -> Iterator[PipelineVersion]:
    models = InProcessModels({"square": square_model()})
    definition, _ = parse_pipeline(CONFIG, "pipeline_config_list[0]")
    assert definition is not None
    with ThreadPoolExecutor(2) as pool:
        built, problems = build_pipeline(definition, models.catalog(), models.infer, {}, pool)
        assert problems == []
        made = PipelineVersion("p", built)
        yield made
        made.close()


async def test_inputs_are_checked_against_the_metadata(version: PipelineVersion) -> None:
    outputs = await version.infer({"x": X, "free": np.ones(3, np.float64)}, ("y",))
    assert list(outputs) == ["y"]
    with pytest.raises(InvalidInput, match="Invalid number of inputs - Expected: 2; Actual: 1"):
        await version.infer({"x": X})
    with pytest.raises(InvalidInput, match="Missing input with specific name - Required input: free"):
        await version.infer({"x": X, "other": X})
    with pytest.raises(
        InvalidInput, match="Invalid input precision - Expected: FP32; Actual: INT32; input name: x"
    ):
        await version.infer({"x": X.astype(np.int32), "free": X})
    with pytest.raises(InvalidInput, match=r"Invalid input shape - Expected: \(-1,4\); Actual: \(2,3\)"):
        await version.infer({"x": np.ones((2, 3), np.float32), "free": X})
    with pytest.raises(InvalidInput, match="Missing output with specific name - Requested output: z"):
        await version.infer({"x": X, "free": X}, ("z",))
    assert version.capacity() is None
    assert version.active_requests() == 0


async def test_an_unbuilt_pipeline_says_why(version: PipelineVersion) -> None:
    unbuilt = PipelineVersion("p", None, "pipeline_config_list[0]: the reason")
    assert unbuilt.status == VersionStatus(
        1, State.LOADING, ErrorCode.FAILED_PRECONDITION, "pipeline_config_list[0]: the reason"
    )
    with pytest.raises(
        NotReady, match="Pipeline is not loaded yet - name: p; pipeline_config_list\\[0\\]: the reason"
    ):
        unbuilt.input_metadata()


async def test_a_retired_pipeline_is_not_found(
    version: PipelineVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_version, "RETIRE_GRACE_S", 0)
    await version.retire(removed=True)
    assert version.status == VersionStatus(1, State.END)
    with pytest.raises(NotFound, match="Pipeline is retired - name: p"):
        await version.infer({"x": X, "free": X})
