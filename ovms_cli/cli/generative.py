"""The generative side of the command line: ``serve --source_model/--task`` and ``demo --task``."""

from __future__ import annotations

from pathlib import Path

from ovms_cli.config.names import name_problem
from ovms_cli.servables.generative.graph_config import (
    TASK_OPTIONS,
    GenerativeConfig,
    GraphConfigError,
    Task,
    config_from_options,
)

TASKS = ", ".join(t.value for t in Task)
OPTION_OF = {"normalize": "normalize_embeddings"}  # OVMS's CLI name -> its graph option, where they differ


class GenerativeUsageError(ValueError):
    """A generative option the command cannot use; the message names it."""


def task_of(text: str) -> Task:
    try:
        return Task(text)
    except ValueError:
        raise GenerativeUsageError(f"--task must be one of {TASKS}, not {text!r}") from None


def generative_from_cli(
    name: str | None,
    folder: str,
    task: str | None,
    target_device: str | None,
    plugin_config: str | None,
    options: dict[str, str | int | None],
) -> GenerativeConfig:
    """One servable from ``--source_model``/``--model_path`` and ``--task`` (OVMS's flags, genai-spec §6.1).

    Boolean options take OVMS's ``true``/``false``. Raises GenerativeUsageError.
    """
    path = Path(folder)
    if not path.is_dir():
        raise GenerativeUsageError(
            f"--source_model {folder} is not a local folder (downloading from Hugging Face is not supported)"
        )
    name = name or path.resolve().name
    problem = name_problem(name)
    if problem is not None:
        raise GenerativeUsageError(f"--model_name: {problem}")
    given = {k: v for k, v in options.items() if v is not None}
    graph = path / "graph.pbtxt"
    if task is None:
        if not graph.exists():
            raise GenerativeUsageError(f"--task is required ({TASKS}): {folder} has no graph.pbtxt")
        if given:
            raise GenerativeUsageError(
                f"--{next(iter(given))} cannot be used with a graph.pbtxt: set it in the graph"
            )
        from ovms_cli.servables.generative.graph_config import read_graph

        try:
            return read_graph(name, graph)
        except GraphConfigError as error:
            raise GenerativeUsageError(str(error)) from error
    kind = task_of(task)
    allowed = [cli for cli in options if OPTION_OF.get(cli, cli) in TASK_OPTIONS[kind]]
    graph_options: dict[str, object] = {"models_path": str(path.resolve())}
    for option, value in given.items():
        if option not in allowed:
            raise GenerativeUsageError(f"--{option} does not apply to --task {kind.value}")
        graph_options[OPTION_OF.get(option, option)] = _value(option, value)
    device_key = "device" if kind is Task.TEXT_GENERATION else "target_device"
    if target_device is not None:
        graph_options[device_key] = target_device
    if plugin_config is not None:
        graph_options["plugin_config"] = plugin_config
    try:
        return config_from_options(name, kind, graph_options, Path.cwd(), "command line")
    except GraphConfigError as error:
        raise GenerativeUsageError(str(error).removeprefix("command line: ")) from error


def _value(option: str, value: str | int) -> object:
    if option in ("enable_prefix_caching", "dynamic_split_fuse", "normalize", "truncate"):
        if value not in ("true", "false"):
            raise GenerativeUsageError(f"--{option} takes true or false, not {value!r}")
        return value == "true"
    return value


def build_demo(directory: Path, task: str) -> Path:
    """Build ``ovms demo --task``'s model; return its config.json."""
    from ovms_cli.servables.generative.demo import write_generative_demo

    return write_generative_demo(directory, task_of(task))
