"""Spec §9.1: the stateful flag of a loaded model cannot change; the model keeps serving as it was."""

import asyncio
from dataclasses import replace
from pathlib import Path

from builders import write_ir
from stateful_builders import running_sum_model

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.servables.model import STATEFUL_FLAG_CHANGED, Model
from ovms_cli.servables.model_loader import Runtime
from ovms_cli.types import State


def test_the_stateful_flag_of_a_loaded_model_cannot_change(repo: Path, runtime: Runtime) -> None:
    write_ir(running_sum_model(), repo, 1)
    config = ModelConfig("m", str(repo), stateful=True)
    model = Model(config)
    assert asyncio.run(model.sync(runtime, initial=True))
    serving = model.versions[1]
    assert not asyncio.run(model.reconfigure(runtime, replace(config, stateful=False)))
    assert model.versions[1] is serving and serving.state is State.AVAILABLE and serving.stateful
    assert model.problems() == [f"version 1 keeps its previous config: {STATEFUL_FLAG_CHANGED}"]
    assert asyncio.run(model.reconfigure(runtime, replace(config, nireq=1)))  # other changes still apply
    assert model.problems() == []
    assert model.versions[1].config.nireq == 1 and model.versions[1].stateful


def test_going_back_to_the_served_config_clears_the_refusal(repo: Path) -> None:
    import openvino as ov

    from ovms_cli.servables.manager import ModelManager

    write_ir(running_sum_model(), repo, 1)
    config = ModelConfig("m", str(repo), stateful=True)

    async def scenario() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        manager = ModelManager(ov.Core())
        await manager.load([config])
        try:
            await manager.apply([replace(config, stateful=False)])  # refused: the model keeps serving
            refused = manager.load_problems()
            await manager.apply([config])  # the file is back to what serves
            return refused, manager.load_problems()
        finally:
            manager.unload()

    refused, after = asyncio.run(scenario())

    assert refused == {"m": [f"version 1 keeps its previous config: {STATEFUL_FLAG_CHANGED}"]}
    assert after == {}
