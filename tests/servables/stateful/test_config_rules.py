import pytest

from ovms_cli.config.model_config import DynamicBatching, ModelConfig
from ovms_cli.servables.stateful.config_rules import AUTO_SHAPE, DYNAMIC_BATCHING, stateful_config_problems


def config(**changes: object) -> ModelConfig:
    return ModelConfig(name="lstm", base_path="/m/lstm", **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [{"batch_size": "auto"}, {"shape": "auto"}, {"shape": {"x": (1, 4), "h0": "auto"}}],
)
def test_a_stateful_model_refuses_auto_shapes(changes: dict[str, object]) -> None:
    assert stateful_config_problems(config(stateful=True, **changes)) == [AUTO_SHAPE]


def test_a_stateful_model_refuses_dynamic_batching() -> None:
    problems = stateful_config_problems(config(stateful=True, dynamic_batching=DynamicBatching(8)))
    assert problems == [DYNAMIC_BATCHING]


def test_fixed_shapes_are_fine_and_models_not_stateful_are_not_judged() -> None:
    assert stateful_config_problems(config(stateful=True, shape=(1, 4), batch_size=1)) == []
    assert stateful_config_problems(config(batch_size="auto", dynamic_batching=DynamicBatching(8))) == []
