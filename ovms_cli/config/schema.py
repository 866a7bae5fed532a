"""The JSON Schema of config.json (spec §2.11), draft-04 as OVMS enforces it with rapidjson.

Deliberately kept from OVMS: extra keys beside ``config`` in a model item are accepted, and
``monitoring`` itself accepts extra keys (only ``metrics`` is closed).
"""

from __future__ import annotations

from typing import Any

_STRING: dict[str, Any] = {"type": "string"}
_BOOLEAN: dict[str, Any] = {"type": "boolean"}
_DEMULTIPLY_COUNT: dict[str, Any] = {"type": "integer", "minimum": -1, "maximum": 10000}
_STRING_OR_STRING_MAP: dict[str, Any] = {"type": ["string", "object"], "additionalProperties": _STRING}
# OVMS reads mean/scale as strings ("[1,2,3]", "0.5"); a JSON number or array says the same
_NUMBERS: dict[str, Any] = {"type": ["string", "number", "array"], "items": {"type": "number"}, "minItems": 1}


def _closed(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """An object with these properties and no others."""
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}


def _array_of(definition: str) -> dict[str, Any]:
    return {"type": "array", "items": {"$ref": f"#/definitions/{definition}"}}


_VERSION_POLICY: dict[str, Any] = {
    "description": 'exactly one of {"all": {}}, {"specific": {"versions": [1, 2]}} '
    'or {"latest": {"num_versions": 1}}',
    "oneOf": [
        _closed(["all"], {"all": {"type": "object", "additionalProperties": False}}),
        _closed(
            ["specific"],
            {
                "specific": _closed(
                    ["versions"], {"versions": {"type": "array", "items": {"type": "integer", "minimum": 1}}}
                )
            },
        ),
        _closed(
            ["latest"],
            {"latest": _closed(["num_versions"], {"num_versions": {"type": "integer", "minimum": 1}})},
        ),
    ],
}

_MODEL_CONFIG: dict[str, Any] = _closed(
    ["name", "base_path"],
    {
        "name": _STRING,
        "base_path": _STRING,
        "batch_size": {"type": ["integer", "string"], "minimum": 0},
        "model_version_policy": {"$ref": "#/definitions/model_version_policy"},
        "shape": _STRING_OR_STRING_MAP,
        "layout": _STRING_OR_STRING_MAP,
        "nireq": {"type": "integer", "minimum": 0},
        "target_device": _STRING,
        "allow_cache": _BOOLEAN,
        "plugin_config": {
            "type": "object",
            "additionalProperties": {"type": ["string", "boolean", "number"]},
        },
        "mean": _NUMBERS,
        "scale": _NUMBERS,
        "color_format": _STRING,
        "precision": _STRING,
        "stateful": _BOOLEAN,
        "idle_sequence_cleanup": _BOOLEAN,
        "low_latency_transformation": _BOOLEAN,
        "max_sequence_number": {"type": "integer", "minimum": 0},
        "dynamic_batching": _closed(
            ["max_batch_size"],
            {
                "max_batch_size": {"type": "integer", "minimum": 1},
                "max_batch_delay_us": {"type": "integer", "minimum": 0},
            },
        ),
        "custom_loader_options": {
            "type": "object",
            "required": ["loader_name"],
            "properties": {"loader_name": _STRING},
            "minProperties": 1,
        },
    },
)

_NODE: dict[str, Any] = {
    **_closed(
        ["name", "type", "inputs", "outputs"],
        {
            "name": _STRING,
            "type": {"enum": ["DL model", "custom", "python"]},
            "model_name": _STRING,
            "library_name": _STRING,
            "handler": _STRING,  # beyond OVMS: a Python node's "package.module:Class" or "file.py:Class"
            "version": {
                "type": "integer",
                "minimum": 1,
                "maximum": 2**63 - 1,
            },  # reachable by /versions/(\d+)
            "params": {"type": "object", "additionalProperties": _STRING},
            "inputs": _array_of("source_node"),
            "outputs": _array_of("output_alias"),
            "demultiply_count": _DEMULTIPLY_COUNT,
            "gather_from_node": _STRING,
        },
    ),
    "description": 'type "DL model" with model_name, type "custom" with library_name, or type "python" '
    "with handler (exactly one of the three)",
    "oneOf": [
        {
            "properties": {"type": {"enum": ["custom"]}},
            "required": ["library_name"],
            "not": {"anyOf": [{"required": ["model_name"]}, {"required": ["handler"]}]},
        },
        {
            "properties": {"type": {"enum": ["DL model"]}},
            "required": ["model_name"],
            "not": {"anyOf": [{"required": ["library_name"]}, {"required": ["handler"]}]},
        },
        {
            "properties": {"type": {"enum": ["python"]}},
            "required": ["handler"],
            "not": {"anyOf": [{"required": ["model_name"]}, {"required": ["library_name"]}]},
        },
    ],
}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "definitions": {
        "model_version_policy": _VERSION_POLICY,
        "model_config": _MODEL_CONFIG,
        "model_config_item": {
            "type": "object",
            "required": ["config"],
            "properties": {"config": _MODEL_CONFIG},
        },
        "custom_loader_config_item": {
            "type": "object",
            "required": ["config"],
            "properties": {
                "config": _closed(
                    ["loader_name", "library_path"],
                    {"loader_name": _STRING, "library_path": _STRING, "loader_config_file": _STRING},
                )
            },
        },
        "source_node": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": _closed(
                ["node_name", "data_item"], {"node_name": _STRING, "data_item": _STRING}
            ),
        },
        "output_alias": _closed(["data_item", "alias"], {"data_item": _STRING, "alias": _STRING}),
        "node": _NODE,
        "pipeline_config": _closed(
            ["name", "nodes", "inputs", "outputs"],
            {
                "name": _STRING,
                "nodes": _array_of("node"),
                "inputs": {"type": "array", "items": _STRING},
                "outputs": _array_of("source_node"),
                "demultiply_count": _DEMULTIPLY_COUNT,
            },
        ),
        "custom_node_library_config": _closed(["name", "base_path"], {"name": _STRING, "base_path": _STRING}),
        "monitoring": {
            "type": "object",
            "required": ["metrics"],
            "properties": {
                "metrics": _closed(
                    ["enable"],
                    {"enable": _BOOLEAN, "metrics_list": {"type": "array", "items": _STRING}},
                )
            },
        },
        "mediapipe_config": _closed(
            ["name"],
            {"name": _STRING, "base_path": _STRING, "graph_path": _STRING, "subconfig": _STRING},
        ),
    },
    **_closed(
        ["model_config_list"],
        {
            "model_config_list": _array_of("model_config_item"),
            "pipeline_config_list": _array_of("pipeline_config"),
            "custom_node_library_config_list": _array_of("custom_node_library_config"),
            "custom_loader_config_list": _array_of("custom_loader_config_item"),
            "monitoring": {"$ref": "#/definitions/monitoring"},
            "mediapipe_config_list": _array_of("mediapipe_config"),
        },
    ),
}

MODEL_CONFIG_SCHEMA: dict[str, Any] = {
    "definitions": CONFIG_SCHEMA["definitions"],
    "$ref": "#/definitions/model_config",
}
"""The schema of one ``model_config_list[].config`` object on its own."""
