"""Pipeline definition problems: OVMS's status code, its message (spec §8.6) and the JSON path.

OVMS stops at the first problem of a pipeline; we collect every one so ``validate-config`` can
report them all, each with the path of the offending entry, e.g.
``pipeline_config_list[0].nodes[2].inputs[0]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Code(Enum):
    """OVMS ``StatusCode`` names with their texts (OVMS ``src/status.cpp``)."""

    PIPELINE_NAME_OCCUPIED = "Pipeline has the same name as model"
    PIPELINE_DEFINITION_ALREADY_EXIST = "Pipeline definition with the same name already exists"
    PIPELINE_DEFINITION_INVALID_NODE_LIBRARY = "Pipeline refers to incorrect library"
    PIPELINE_NODE_WRONG_KIND_CONFIGURATION = "Unsupported node type"
    PIPELINE_NODE_NAME_DUPLICATE = "Pipeline definition has multiple nodes with the same name"
    PIPELINE_NODE_REFERING_TO_MISSING_MODEL = "Pipeline definition has reference to missing model"
    FORBIDDEN_MODEL_DYNAMIC_PARAMETER = "Value of provided parameter is forbidden"
    PIPELINE_NODE_REFERING_TO_MISSING_NODE = "Pipeline definition has reference to missing node"
    PIPELINE_EXIT_USED_AS_NODE_DEPENDENCY = "Pipeline definition has response node used as dependency node"
    PIPELINE_NODE_REFERING_TO_MISSING_DATA_SOURCE = "Pipeline definition has reference to missing data source"
    PIPELINE_NODE_REFERING_TO_MISSING_MODEL_OUTPUT = (
        "Pipeline definition has reference to missing model output"
    )
    PIPELINE_CONNECTION_TO_MISSING_MODEL_INPUT = (
        "Pipeline definition has connection to non existing model input"
    )
    PIPELINE_MODEL_INPUT_CONNECTED_TO_MULTIPLE_DATA_SOURCES = (
        "Pipeline definition has multiple connections to the same input of underlying model"
    )
    PIPELINE_NOT_ALL_INPUTS_CONNECTED = (
        "Pipeline definition does not have connections for all inputs of underlying models"
    )
    INVALID_SHAPE = "Invalid input shape"
    INVALID_PRECISION = "Invalid input precision"
    PIPELINE_CYCLE_FOUND = "Pipeline definition contains a cycle"
    PIPELINE_CONTAINS_UNCONNECTED_NODES = "Pipeline definition has unconnected nodes"
    PIPELINE_NODE_GATHER_FROM_NOT_EXISTING_NODE = "Gather node refers to not existing node"
    PIPELINE_NODE_GATHER_FROM_NOT_DEMULTIPLEXER = "Gather node refers to node that isn't demultiplexer"
    PIPELINE_NODE_GATHER_FROM_ENTRY_NODE = "Gathering from entry node is not allowed"
    PIPELINE_WRONG_DEMULTIPLEXER_GATHER_NODES_ORDER = "Demultiplexer and gather nodes are not in LIFO order"
    PIPELINE_NOT_ENOUGH_SHAPE_DIMENSIONS_TO_DEMULTIPLY = (
        "Pipeline has not enough shape dimensions to demultiply"
    )
    PIPELINE_DEMULTIPLY_COUNT_DOES_NOT_MATCH_TENSOR_SHARD_COUNT = (
        "Demultiplication count does not match tensor first dimension"
    )
    PIPELINE_INPUTS_AMBIGUOUS_METADATA = (
        "Multiple nodes connected to the same pipeline input require different tensor metadata"
    )
    NOT_IMPLEMENTED = "Not implemented"
    REQUESTED_STATEFUL_PARAMETERS_ON_SUBSCRIBED_MODEL = "Stateful model cannot be subscribed to pipeline"
    # Beyond OVMS's codes: a custom node's initialize/metadata call or a Python node's import failed
    # (the details carry the node's own error, e.g. NODE_LIBRARY_INITIALIZE_FAILED's text).
    PIPELINE_NODE_LOAD_FAILED = "Pipeline node could not be loaded"
    # Beyond OVMS's codes: shape errors of the JSON entry itself (the schema normally catches them).
    CONFIG_ENTRY_INVALID = "Pipeline configuration entry is invalid"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a pipeline definition, located by its JSON path in the config file."""

    path: str
    code: Code
    details: str = ""

    @property
    def message(self) -> str:
        """OVMS's text with the details after `` - `` (the style of ``ovms_cli.errors``)."""
        return f"{self.code.value} - {self.details}" if self.details else self.code.value

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"
