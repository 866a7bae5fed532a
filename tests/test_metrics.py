"""Metric families as OVMS names them, counted in place and parsed back from the exposition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from builders import affine_model, write_ir
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from ovms_cli import metrics
from ovms_cli.config.model_config import DynamicBatching, ModelConfig
from ovms_cli.metrics import GRPC, KSERVE, REST, TFS, ServingMetrics, endpoint, parse_families
from ovms_cli.servables.manager import ModelManager
from ovms_cli.types import InferenceRequest

SPEC_BUCKETS = (
    "10, 18, 32, 58, 104, 188, 340, 612, 1101, 1983, 3570, 6426, 11568, 20822, 37481, 67466, 121439, "
    "218591, 393464, 708235, 1274823, 2294682, 4130428, 7434771, 13382588, 24088659, 43359586, 78047255, "
    "140485060, 252873108, 455171596, 819308872, 1474755971"
)


@pytest.fixture
async def manager(tmp_path: Path) -> ModelManager:
    write_ir(affine_model(), tmp_path / "affine", 1)
    write_ir(affine_model(), tmp_path / "batched", 1)
    served = ModelManager(ov.Core())
    await served.load(
        [
            ModelConfig("affine", str(tmp_path / "affine"), nireq=2),
            ModelConfig("batched", str(tmp_path / "batched"), dynamic_batching=DynamicBatching(4, 0)),
        ]
    )
    return served


def scrape(served: ServingMetrics) -> dict[str, list[Sample]]:
    text = served.render().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples: list[Sample], sample: str, /, **labels: str) -> float:
    found = [
        s.value for s in samples if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (sample, labels, found)
    return found[0]


def test_buckets_are_ovms_microsecond_buckets() -> None:
    assert tuple(int(b) for b in SPEC_BUCKETS.split(", ")) == metrics.BUCKETS_US


def test_families_default_listed_and_unknown() -> None:
    assert parse_families([]) == metrics.DEFAULT_FAMILIES
    assert parse_families(["ovms_streams", " ovms_infer_req_active"]) == (
        "ovms_streams",
        "ovms_infer_req_active",
    )
    with pytest.raises(metrics.MetricsConfigError, match="ovms_nope"):
        parse_families(["ovms_nope"])


async def test_exposition_names_are_ovms_names(manager: ModelManager) -> None:
    text = ServingMetrics(manager, metrics.ALL_FAMILIES).render().decode()
    assert "_total" not in text and "_created" not in text
    assert "# TYPE ovms_requests_success counter" in text
    assert 'le="10"' in text and 'le="+Inf"' in text
    parsed = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert parsed == {
        name: {"counter": "counter"}.get(kind, kind)
        for name, kind in (
            (name, "histogram" if name.endswith("_us") else "gauge") for name in metrics.ALL_FAMILIES
        )
    } | {
        n: "counter"
        for n in (
            "ovms_requests_success",
            "ovms_requests_fail",
            "ovms_batch_executions",
            "ovms_batch_requests",
            "ovms_sequences_started",
            "ovms_sequences_ended",
            "ovms_sequences_cleaned",
        )
    }


async def test_series_are_precreated_per_version(manager: ModelManager) -> None:
    families = scrape(ServingMetrics(manager))
    success = [s for s in families["ovms_requests_success"] if s.labels["name"] == "affine"]
    assert len(success) == 12
    assert sum("version" not in s.labels for s in success) == 4  # GetModelStatus, ModelReady
    assert all(s.value == 0 for s in success)
    times = [
        s
        for s in families["ovms_request_time_us"]
        if s.name.endswith("_count") and s.labels["name"] == "affine"
    ]
    assert {s.labels["interface"] for s in times} == {GRPC, REST}
    streams = families["ovms_streams"]
    assert value(streams, "ovms_streams", name="affine", version="1") >= 1


async def test_requests_are_counted_per_label_set(manager: ModelManager) -> None:
    served = ServingMetrics(manager)
    served.sync()
    infer = endpoint(KSERVE, GRPC, "ModelInfer")
    served.count(infer, "affine", None, True, 0.000_3)
    served.count(infer, "affine", 1, True, 0.000_3)
    served.count(infer, "affine", 1, False, 0.000_3)
    served.count(endpoint(TFS, REST, "GetModelStatus"), "affine", None, True, 0.0)
    served.count(endpoint(TFS, REST, "GetModelStatus"), "affine", None, False, 0.0)  # not counted, as OVMS
    served.count(infer, "missing", None, True, 0.0)
    served.count(infer, "affine", 7, False, 0.0)
    families = scrape(served)
    success, fail = families["ovms_requests_success"], families["ovms_requests_fail"]
    labels = {"api": KSERVE, "interface": GRPC, "method": "ModelInfer", "name": "affine", "version": "1"}
    assert value(success, "ovms_requests_success_total", **labels) == 2
    assert value(fail, "ovms_requests_fail_total", **labels) == 1
    status = {"api": TFS, "interface": REST, "method": "GetModelStatus", "name": "affine"}
    assert value(success, "ovms_requests_success_total", **status) == 1
    assert value(fail, "ovms_requests_fail_total", **status) == 0
    assert not [s for s in success if s.labels["name"] == "missing"]
    request_time = families["ovms_request_time_us"]
    assert value(request_time, "ovms_request_time_us_count", interface=GRPC, name="affine") == 2
    assert value(request_time, "ovms_request_time_us_bucket", interface=GRPC, name="affine", le="340") == 2
    assert value(request_time, "ovms_request_time_us_bucket", interface=GRPC, name="affine", le="188") == 0


async def test_the_infer_queue_reports_waits_inferences_and_load(manager: ModelManager) -> None:
    served = ServingMetrics(manager, metrics.ALL_FAMILIES)
    served.sync()
    for _ in range(3):
        await manager.infer(InferenceRequest("affine", None, {"input": np.ones((1, 4), np.float32)}))
    families = scrape(served)
    by_version = {"name": "affine", "version": "1"}
    assert value(families["ovms_inference_time_us"], "ovms_inference_time_us_count", **by_version) == 3
    assert (
        value(
            families["ovms_wait_for_infer_req_time_us"], "ovms_wait_for_infer_req_time_us_count", **by_version
        )
        == 3
    )
    assert value(families["ovms_current_requests"], "ovms_current_requests", **by_version) == 0
    assert value(families["ovms_infer_req_active"], "ovms_infer_req_active", **by_version) == 0
    assert value(families["ovms_infer_req_queue_size"], "ovms_infer_req_queue_size", **by_version) == 2


async def test_batching_counts_executions_requests_and_queue_time(manager: ModelManager) -> None:
    served = ServingMetrics(manager)
    served.sync()
    await manager.infer(InferenceRequest("batched", None, {"input": np.ones((2, 4), np.float32)}))
    families = scrape(served)
    by_version = {"name": "batched", "version": "1"}
    assert value(families["ovms_batch_executions"], "ovms_batch_executions_total", **by_version) == 1
    assert value(families["ovms_batch_requests"], "ovms_batch_requests_total", **by_version) == 1
    assert value(families["ovms_batch_queue_time_us"], "ovms_batch_queue_time_us_count", **by_version) == 1


async def test_a_metrics_list_enables_exactly_its_families(manager: ModelManager) -> None:
    assert set(scrape(ServingMetrics(manager, ("ovms_streams", "ovms_requests_fail")))) == {
        "ovms_streams",
        "ovms_requests_fail",
    }


async def test_unloaded_versions_read_zero(manager: ModelManager) -> None:
    served = ServingMetrics(manager, metrics.ALL_FAMILIES)
    served.sync()
    manager.unload()
    families = scrape(served)
    assert value(families["ovms_streams"], "ovms_streams", name="affine", version="1") == 0
    assert (
        value(families["ovms_infer_req_queue_size"], "ovms_infer_req_queue_size", name="affine", version="1")
        == 0
    )
