"""What a stateful model's configuration may not ask for (spec §9.1, issue 14): checked by validate-config and
at load, before anything compiles.

* ``auto`` batch size or shape: OVMS reloads such a model when a request's shape differs, which would drop
  every sequence of the version mid-stream;
* dynamic batching: requests of different sequences would share one inference and one infer request's state;
* use inside a pipeline (DAG): OVMS refuses stateful models as pipeline nodes (spec §9.1); the pipeline
  loader, which knows its nodes' models, reports :data:`IN_PIPELINE`.

``max_sequence_number`` above uint32 is the config grammar's to refuse (``INVALID_MAX_SEQUENCE_NUMBER``).
"""

from __future__ import annotations

from ovms_cli.config.model_config import ModelConfig

AUTO_SHAPE = "stateful models cannot use auto batch size or shape (a reload would drop their sequences)"
DYNAMIC_BATCHING = (
    "stateful models cannot use dynamic_batching (requests of different sequences would share state)"
)
IN_PIPELINE = "stateful models cannot be used in pipelines"


def stateful_config_problems(config: ModelConfig) -> list[str]:
    """The reasons ``config`` cannot be served, empty when it can (always empty for a model not stateful)."""
    if not config.stateful:
        return []
    problems = []
    if uses_auto_shape(config):
        problems.append(AUTO_SHAPE)
    if config.dynamic_batching is not None:
        problems.append(DYNAMIC_BATCHING)
    return problems


def uses_auto_shape(config: ModelConfig) -> bool:
    """``auto`` batch size or any ``auto`` shape: OVMS refuses such models in pipelines too (§8.1)."""
    return config.batch_size == "auto" or _any_auto_shape(config)


def _any_auto_shape(config: ModelConfig) -> bool:
    if isinstance(config.shape, dict):
        return any(spec == "auto" for spec in config.shape.values())
    return config.shape == "auto"
