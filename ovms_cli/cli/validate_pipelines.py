"""``validate-config``'s pipeline checks: OVMS's load-time rules (spec §8.6) against the models the
file configures, read from their folders as they would load (shape, batch size, layout applied; not
compiled).

What only the server can know is left to it: a remote model's inputs and outputs (nodes using one
are not checked against it), and custom node signatures, which need the library initialized with
the node's params (this command loads no library and imports no Python node: importing runs the
user's code; it checks that each library file and each Python node's handler file exists).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ovms_cli.config.model_config import ModelConfig
from ovms_cli.config.problems import Problem
from ovms_cli.config.server_config import ServerConfig
from ovms_cli.repository.versions import RepositoryError, version_directories
from ovms_cli.servables.pipeline_registry import pipeline_catalog
from ovms_cli.servables.pipelines.definition import NodeKind
from ovms_cli.servables.pipelines.pipeline_metadata import derive_metadata
from ovms_cli.servables.pipelines.problems import Code
from ovms_cli.servables.pipelines.python_node import handler_file
from ovms_cli.servables.pipelines.signatures import NodeSignature
from ovms_cli.servables.pipelines.validation import ValidationContext, validate


@dataclass
class _ModelFiles:
    """``ServedModels`` over the config's local model folders."""

    configs: dict[str, ModelConfig]
    signatures: dict[str, dict[int, NodeSignature]] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)  # remote, or not readable: not checked against

    def model_names(self) -> Collection[str]:
        return self.configs.keys()

    def model_config(self, name: str) -> ModelConfig | None:
        return self.configs.get(name)

    def served_signatures(self, name: str) -> Mapping[int, NodeSignature]:
        return self.signatures.get(name, {})


def pipeline_problems(config: ServerConfig) -> list[Problem]:
    """Every problem of every pipeline and custom node library, each with its JSON path."""
    if not config.pipelines and not config.libraries:
        return []
    problems = [
        Problem(
            f"{library.path}.base_path", f"Custom node library failed to open - no file {library.base_path}"
        )
        for library in config.libraries
        if not Path(library.base_path).is_file()
    ]
    problems += _missing_handler_files(config)
    models = _read_models(config, problems)
    library_names = [library.name for library in config.libraries]
    for definition in config.pipelines:
        catalog, refused = pipeline_catalog(definition, models)
        context = ValidationContext(catalog, library_names)
        validated = validate(definition, context)
        found = refused + validated.problems
        if validated.levels is not None and not found:
            found += derive_metadata(definition, validated.levels, context.signature)[1]
        unchecked = {
            n.path for n in definition.nodes if n.kind is NodeKind.DL_MODEL and n.model_name in models.unknown
        }
        problems += [
            Problem(p.path, p.message)
            for p in found
            if not (
                p.code is Code.PIPELINE_NODE_REFERING_TO_MISSING_MODEL
                and p.path.rsplit(".", 1)[0] in unchecked
            )
        ]
    return problems


def _missing_handler_files(config: ServerConfig) -> list[Problem]:
    """A Python node whose ``handler`` names a ``file.py`` (relative: to the config's folder) that is not
    there; a handler given as a module name is left to the import at load."""
    problems = []
    for definition in config.pipelines:
        for node in definition.nodes:
            if node.kind is not NodeKind.PYTHON or node.handler is None:
                continue
            path = handler_file(node.handler, config.base_dir)
            if path is not None and not path.is_file():
                problems.append(
                    Problem(f"{node.path}.handler", f"Python node handler failed to load - no file {path}")
                )
    return problems


def _read_models(config: ServerConfig, problems: list[Problem]) -> _ModelFiles:
    """The served versions of every local model a pipeline uses (reading a model is the slow step)."""
    used = {n.model_name for p in config.pipelines for n in p.nodes if n.kind is NodeKind.DL_MODEL}
    models = _ModelFiles({m.name: m for m in config.models})
    wanted = [(i, m) for i, m in enumerate(config.models) if m.name in used]
    if not wanted:
        return models
    import openvino as ov

    from ovms_cli.servables.model_loader import LoadError, read_signature

    core = ov.Core()
    for index, model in wanted:
        if model.is_remote:
            models.unknown.add(model.name)
            continue
        try:
            folders = version_directories(Path(model.base_path))
        except RepositoryError:  # load_config reports the folder
            models.unknown.add(model.name)
            continue
        for version in model.version_policy.select(sorted(folders)):
            try:
                inputs, outputs = read_signature(core, model, folders[version])
            except (LoadError, RepositoryError) as error:
                problems.append(Problem(f"model_config_list[{index}].config (version {version})", str(error)))
                models.unknown.add(model.name)
                continue
            models.signatures.setdefault(model.name, {})[version] = NodeSignature.of(inputs, outputs)
    return models
