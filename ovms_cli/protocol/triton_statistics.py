"""Triton's statistics extension: ``ModelStatisticsResponse`` as JSON (REST) and protobuf (gRPC).

Shapes follow triton-inference-server/common grpc_service.proto (``ModelStatistics``) and the HTTP
protocol's extension_statistics.md: ``{"model_stats": [{"name", "version", "last_inference",
"inference_count", "execution_count", "inference_stats": {"success": {"count", "ns"}, ...},
"batch_stats": [...]}]}``; counts are plain integers, times cumulative nanoseconds. One document
builder serves both, so REST and gRPC cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from google.protobuf import json_format

from ovms_cli._proto.grpc_service_extensions_pb2 import ModelStatisticsResponse
from ovms_cli.servables.model_statistics import VersionStatistics
from ovms_cli.servables.statistics import Duration, InferenceStatistics

_DURATIONS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


def statistics_document(entries: Sequence[VersionStatistics]) -> dict[str, Any]:
    return {"model_stats": [_model_stats(entry) for entry in entries]}


def encode_statistics_json(entries: Sequence[VersionStatistics]) -> bytes:
    return orjson.dumps(statistics_document(entries))


def encode_statistics_message(entries: Sequence[VersionStatistics]) -> ModelStatisticsResponse:
    message = ModelStatisticsResponse()
    json_format.ParseDict(statistics_document(entries), message)
    return message


def _model_stats(entry: VersionStatistics) -> dict[str, Any]:
    stats = entry.statistics
    return {
        "name": entry.name,
        "version": str(entry.version),
        "last_inference": stats.last_inference_ms,
        "inference_count": stats.inference_count,
        "execution_count": stats.execution_count,
        "inference_stats": _inference_stats(stats),
        "batch_stats": [],  # per batch size: not collected (see README)
    }


def _inference_stats(stats: InferenceStatistics) -> dict[str, Any]:
    doc = {name: _duration(getattr(stats, name)) for name in _DURATIONS}
    doc["cache_hit"] = doc["cache_miss"] = {"count": 0, "ns": 0}  # OVMS has no response cache
    return doc


def _duration(duration: Duration) -> dict[str, int]:
    return {"count": duration.count, "ns": duration.ns}
