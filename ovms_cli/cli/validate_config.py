"""``ovms validate-config FILE``: every problem of a config.json, or a table of what it would serve.

``--json`` prints one JSON document instead, for scripts (see ``validation_document``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ovms_cli.config.grammar import ShapeSpec
from ovms_cli.config.model_config import ModelConfig
from ovms_cli.config.problems import ConfigError, Problem
from ovms_cli.config.server_config import ServerConfig, load_config
from ovms_cli.inference.shapes import Dim
from ovms_cli.repository.versions import RepositoryError, discover_versions, version_directories


def validate_config_command(path: Path, console: Console) -> int:
    """Print the problems (exit code 1) or the models the file configures (exit code 0)."""
    try:
        config = load_config(path)
        _check_loading(config)
    except ConfigError as error:
        console.print(Text(f"{path}: {len(error.problems)} problem(s)", style="bold red"), soft_wrap=True)
        for problem in error.problems:
            console.print(Text(str(problem), style="red"), soft_wrap=True)
        return 1
    console.print(_models_table(config))
    summary = _count(len(config.models), "model")
    if config.pipelines:
        summary += f", {_count(len(config.pipelines), 'pipeline')}"
    console.print(Text(f"{path}: valid, {summary}", style="green"), soft_wrap=True)
    return 0


def validate_config_json(path: Path) -> tuple[int, str]:
    """The exit code (0 valid, 1 not) and ``validation_document`` as indented JSON text."""
    document = validation_document(path)
    return (0 if document["valid"] else 1), json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def validation_document(path: Path) -> dict[str, Any]:
    """``{"config_path": str, "valid": bool, "problems": [{"path", "message"}], "models": [...]}``.

    Each model: ``name``, ``base_path``, ``versions`` found (``null`` for a remote base path),
    ``served_versions`` (the ones the version policy picks), ``policy``, ``target_device`` and
    ``nireq`` (0: automatic). Each pipeline: ``name``, ``inputs``, ``outputs`` and ``nodes`` (names).
    ``models`` and ``pipelines`` are empty when the file is invalid.
    """
    document: dict[str, Any] = {
        "config_path": str(path),
        "valid": True,
        "problems": [],
        "models": [],
        "pipelines": [],
    }
    try:
        config = load_config(path)
        _check_loading(config)
    except ConfigError as error:
        document["valid"] = False
        document["problems"] = [{"path": p.path, "message": p.message} for p in error.problems]
        return document
    document["models"] = [_model_document(model) for model in config.models]
    document["pipelines"] = [
        {
            "name": p.name,
            "inputs": list(p.inputs),
            "outputs": [c.target for c in p.outputs],
            "nodes": [n.name for n in p.nodes],
        }
        for p in config.pipelines
    ]
    return document


def _model_document(model: ModelConfig) -> dict[str, Any]:
    found = None if model.is_remote else discover_versions(Path(model.base_path))
    return {
        "name": model.name,
        "base_path": model.base_path,
        "versions": found,
        "served_versions": None if found is None else model.version_policy.select(found),
        "policy": model.version_policy.describe(),
        "target_device": model.target_device,
        "nireq": model.nireq,
    }


def _check_loading(config: ServerConfig) -> None:
    """What loading would refuse: preprocessing against the models' inputs, and OVMS's pipeline rules
    (spec §8.6) against the models as configured (``validate_pipelines``). Raises ConfigError with both."""
    from ovms_cli.cli.validate_pipelines import pipeline_problems

    problems = []
    try:
        _check_preprocessing(config)
    except ConfigError as error:
        problems += error.problems
    problems += pipeline_problems(config)
    problems += _generative_problems(config)
    if problems:
        raise ConfigError(problems)


def _generative_problems(config: ServerConfig) -> list[Problem]:
    """``mediapipe_config_list`` entries the server would not load: a graph.pbtxt that does not read
    or sets an unsupported option (``graph_config.read_graph``), or a ``models_path`` that is no folder."""
    from ovms_cli.servables.generative.host import configs_from_file

    configs, refused = configs_from_file(config.raw, config.base_dir or Path.cwd())
    where = {
        item.get("name"): f"mediapipe_config_list[{index}]"
        for index, item in enumerate(config.raw.get("mediapipe_config_list") or [])
        if isinstance(item, dict)
    }
    problems = [Problem(where.get(name, "mediapipe_config_list"), why) for name, why in refused.items()]
    for generative in configs:
        if not generative.models_path.is_dir():
            problems.append(
                Problem(
                    where.get(generative.name, "mediapipe_config_list"),
                    f"{generative.source}: models_path {generative.models_path} is not a folder",
                )
            )
    return problems


def _check_preprocessing(config: ServerConfig) -> None:
    """mean/scale/color_format/precision against the inputs of the versions each policy serves.

    Only for local models that set them: reading a model is the one slow step of this command.
    """
    checked = [
        (index, model)
        for index, model in enumerate(config.models)
        if model.preprocessing.configured and not model.is_remote
    ]
    if not checked:
        return
    import openvino as ov

    from ovms_cli.servables.model_loader import LoadError, prepare_model

    core = ov.Core()
    problems = []
    for index, model in checked:
        folders = version_directories(Path(model.base_path))
        for version in model.version_policy.select(sorted(folders)):
            try:
                prepare_model(core, model, folders[version])
            except (LoadError, RepositoryError) as error:
                problems.append(Problem(f"model_config_list[{index}].config (version {version})", str(error)))
    if problems:
        raise ConfigError(problems)


def _models_table(config: ServerConfig) -> Table:
    table = Table(title="Models", caption="versions in bold green are the ones the policy serves")
    for column in ("name", "base_path", "versions", "policy", "device", "nireq", "shape/batch"):
        table.add_column(column, overflow="fold")
    for model in config.models:
        table.add_row(
            Text(model.name),
            Text(model.base_path),
            _versions(model),
            Text(model.version_policy.describe()),
            Text(model.target_device),
            Text(str(model.nireq) if model.nireq else "auto"),
            Text(_shape_and_batch(model)),
        )
    return table


def _versions(model: ModelConfig) -> Text:
    """Found versions, the ones the policy would serve in bold."""
    if model.is_remote:
        return Text("remote, not listed", style="dim")
    found = discover_versions(Path(model.base_path))
    served = set(model.version_policy.select(found))
    text = Text()
    for index, version in enumerate(found):
        if index:
            text.append(", ")
        text.append(str(version), style="bold green" if version in served else "dim")
    return text


def _shape_and_batch(model: ModelConfig) -> str:
    if isinstance(model.shape, dict):
        return " ".join(f"{name}={_shape(spec)}" for name, spec in model.shape.items())
    if model.shape is not None:
        return _shape(model.shape)
    if model.batch_size is not None:
        return f"batch {_dim(model.batch_size) if isinstance(model.batch_size, Dim) else model.batch_size}"
    return "model's own"


def _shape(spec: ShapeSpec) -> str:
    if spec == "auto":
        return spec
    return "(" + ",".join(_dim(d) for d in spec) + ")"


def _dim(dim: Dim) -> str:
    """A dimension in the config grammar: ``N``, ``-1`` or ``min:max``."""
    if dim.is_static:
        return str(dim.min)
    if dim.max < 0:
        return "-1"
    return f"{dim.min}:{dim.max}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
