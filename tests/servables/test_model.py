import asyncio
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from builders import affine_model, write_ir
from observers import InferenceCounter

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.errors import NotFound, NotReady, VersionNotFound
from ovms_cli.inference.shapes import Dim
from ovms_cli.repository.version_policy import AllPolicy, LatestPolicy, SpecificPolicy
from ovms_cli.servables.model import Model
from ovms_cli.servables.model_loader import Runtime
from ovms_cli.types import ErrorCode, State

X = np.ones((1, 4), np.float32)


def _broken(base: Path, version: int) -> None:
    (base / str(version)).mkdir(parents=True)
    (base / str(version) / "model.onnx").write_bytes(b"garbage")


def _states(model: Model) -> dict[int, tuple[State, ErrorCode]]:
    return {n: (v.state, v.status.error_code) for n, v in model.versions.items()}


def _sync(model: Model, runtime: Runtime, *, initial: bool = False) -> bool:
    return asyncio.run(model.sync(runtime, initial=initial))


def test_latest_falls_back_past_a_version_that_fails_to_load(repo: Path, runtime: Runtime) -> None:
    write_ir(affine_model(), repo, 1)
    write_ir(affine_model(), repo, 2)
    _broken(repo, 3)
    model = Model(ModelConfig("m", str(repo), version_policy=LatestPolicy(1)))
    assert _sync(model, runtime, initial=True)
    assert _states(model) == {3: (State.LOADING, ErrorCode.UNKNOWN), 2: (State.AVAILABLE, ErrorCode.OK)}
    assert "cannot read" in model.versions[3].status.reason
    assert model.version(None).version == 2
    with pytest.raises(NotReady, match="not loaded yet"):
        _ = model.version(3).loaded
    assert not _sync(model, runtime), "a failed version is not retried while its files stay the same"


def test_all_and_specific_policies(repo: Path, runtime: Runtime) -> None:
    for version in (1, 2, 3):
        write_ir(affine_model(), repo, version)
    everything = Model(ModelConfig("m", str(repo), version_policy=AllPolicy()))
    _sync(everything, runtime, initial=True)
    assert everything.available_versions() == (1, 2, 3)
    chosen = Model(ModelConfig("m", str(repo), version_policy=SpecificPolicy((1, 3, 7))))
    _sync(chosen, runtime, initial=True)
    assert chosen.available_versions() == (1, 3)
    with pytest.raises(VersionNotFound, match="version: 7"):
        chosen.version(7)


def test_a_model_without_versions_has_no_default(repo: Path, runtime: Runtime) -> None:
    repo.mkdir(parents=True)
    model = Model(ModelConfig("m", str(repo)))
    _sync(model, runtime, initial=True)
    assert model.versions == {}
    with pytest.raises(VersionNotFound) as raised:
        model.version(None)
    assert raised.value.http_status == 404


def test_batch_size_reshapes_the_model(repo: Path, runtime: Runtime) -> None:
    write_ir(affine_model(), repo, 1)
    model = Model(ModelConfig("m", str(repo), batch_size=Dim.fixed(3)))
    _sync(model, runtime, initial=True)
    [spec] = model.version(1).loaded.inputs.values()
    assert spec.metadata().shape == (3, 4)


def test_a_new_version_loads_once_its_files_are_stable_and_the_old_one_ends(
    repo: Path, runtime: Runtime
) -> None:
    write_ir(affine_model(), repo, 1)
    model = Model(ModelConfig("m", str(repo)))
    _sync(model, runtime, initial=True)
    write_ir(affine_model(), repo, 2)
    assert not _sync(model, runtime), "first sight of version 2: wait one pass for its files to settle"
    assert _sync(model, runtime)
    assert _states(model) == {1: (State.END, ErrorCode.OK), 2: (State.AVAILABLE, ErrorCode.OK)}
    with pytest.raises(NotFound, match="retired"):
        _ = model.version(1).loaded


def test_a_removed_folder_retires_its_version_and_a_readded_one_serves_again(
    repo: Path, runtime: Runtime
) -> None:
    write_ir(affine_model(), repo, 1)
    write_ir(affine_model(), repo, 2)
    model = Model(ModelConfig("m", str(repo), version_policy=AllPolicy()))
    _sync(model, runtime, initial=True)
    shutil.rmtree(repo / "2")
    assert _sync(model, runtime)
    assert model.available_versions() == (1,)
    assert model.versions[2].state is State.END
    write_ir(affine_model(), repo, 2)
    _sync(model, runtime)
    _sync(model, runtime)
    assert model.available_versions() == (1, 2)


def test_a_listing_failure_keeps_serving(repo: Path, runtime: Runtime) -> None:
    write_ir(affine_model(), repo, 1)
    model = Model(ModelConfig("m", str(repo)))
    _sync(model, runtime, initial=True)
    shutil.move(repo, repo.with_name("elsewhere"))
    assert not _sync(model, runtime)
    assert model.available_versions() == (1,)


def test_retiring_waits_for_requests_in_flight(repo: Path, runtime: Runtime) -> None:
    write_ir(affine_model(), repo, 1)
    model = Model(ModelConfig("m", str(repo)))
    _sync(model, runtime, initial=True)
    version = model.version(1)

    async def race() -> list[object]:
        requests = [asyncio.create_task(version.infer({"input": X})) for _ in range(20)]
        await asyncio.sleep(0)  # every request has started
        await version.retire()
        return await asyncio.gather(*requests, return_exceptions=True)

    results = asyncio.run(race())
    assert all(isinstance(r, dict) for r in results), results
    assert version.state is State.END


def test_a_config_change_reloads_beside_the_served_version(repo: Path, runtime: Runtime) -> None:
    write_ir(affine_model(), repo, 1)
    model = Model(ModelConfig("m", str(repo), nireq=1))
    _sync(model, runtime, initial=True)
    old = model.version(1)
    assert asyncio.run(model.reconfigure(runtime, ModelConfig("m", str(repo), nireq=3)))
    assert model.version(1) is not old and model.version(1).loaded.nireq == 3
    assert old.state is State.END


def test_a_config_that_fails_to_load_keeps_the_old_version_serving(repo: Path, runtime: Runtime) -> None:
    write_ir(affine_model(), repo, 1)
    model = Model(ModelConfig("m", str(repo)))
    _sync(model, runtime, initial=True)
    old = model.version(1)
    rank_one = (Dim.fixed(5),)  # the sum over axis 1 cannot be reshaped to rank 1
    bad = ModelConfig("m", str(repo), shape=rank_one)
    asyncio.run(model.reconfigure(runtime, bad))
    assert model.version(1) is old
    assert old.state is State.AVAILABLE


def test_mapping_config_renames_inputs_and_outputs(repo: Path, runtime: Runtime) -> None:
    write_ir(affine_model(), repo, 1)
    mapping = {"inputs": {"input": "features"}, "outputs": {"scaled": "doubled_plus_one"}}
    (repo / "1" / "mapping_config.json").write_text(json.dumps(mapping))
    model = Model(ModelConfig("m", str(repo)))
    _sync(model, runtime, initial=True)
    version = model.version(1)
    assert [t.name for t in version.input_metadata()] == ["features"]
    assert [t.name for t in version.output_metadata()] == ["doubled_plus_one", "total"]
    outputs = asyncio.run(version.infer({"features": X}))
    np.testing.assert_array_equal(outputs["doubled_plus_one"], X * 2 + 1)


def test_a_request_alone_takes_the_latency_lane_and_concurrent_ones_the_throughput_queue(
    repo: Path, runtime: Runtime
) -> None:
    write_ir(affine_model(), repo, 1)
    model = Model(ModelConfig("m", str(repo)))
    _sync(model, runtime, initial=True)
    loaded = model.version(1).loaded
    assert loaded.latency_lane is not None
    lane, throughput = InferenceCounter(), InferenceCounter()
    loaded.latency_lane.observer, loaded.queue.observer = lane, throughput

    async def load() -> None:
        for _ in range(3):
            await loaded.infer({0: X})
        results = await asyncio.gather(*(loaded.infer({0: X * i}) for i in range(16)))
        for i, outputs in enumerate(results):
            np.testing.assert_array_equal(outputs["scaled"], X * i * 2 + 1)

    asyncio.run(load())
    assert lane.inferences >= 3
    assert throughput.inferences >= 14  # the lane takes at most one at a time, and only when all is idle


def test_choosing_a_hint_turns_the_latency_lane_off(repo: Path, runtime: Runtime) -> None:
    write_ir(affine_model(), repo, 1)
    model = Model(ModelConfig("m", str(repo), plugin_config={"PERFORMANCE_HINT": "LATENCY"}))
    _sync(model, runtime, initial=True)
    assert model.version(1).loaded.latency_lane is None


def test_nireq_defaults_to_twice_what_openvino_finds_optimal(repo: Path, runtime: Runtime) -> None:
    write_ir(affine_model(), repo, 1)
    model = Model(ModelConfig("m", str(repo)))
    _sync(model, runtime, initial=True)
    loaded = model.version(1).loaded
    optimal = int(loaded.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    assert loaded.nireq == loaded.queue.size == 2 * optimal


def test_problems_say_why_the_repository_or_a_listed_version_does_not_serve(
    repo: Path, runtime: Runtime
) -> None:
    missing = Model(ModelConfig("m", str(repo / "nowhere")))
    _sync(missing, runtime, initial=True)
    assert missing.problems() == [f"The provided base path is invalid or doesn't exists: {repo / 'nowhere'}"]
    write_ir(affine_model(), repo, 1)
    _broken(repo, 2)
    model = Model(ModelConfig("m", str(repo), version_policy=AllPolicy()))
    _sync(model, runtime, initial=True)
    [problem] = model.problems()
    assert problem.startswith("version 2: cannot read ")
    shutil.rmtree(repo / "2")
    _sync(model, runtime)
    assert model.problems() == []
