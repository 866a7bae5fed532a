"""Prometheus metrics with OVMS's families, names, labels and buckets (spec §10).

Counters and gauges are prometheus-client's, kept out of any global registry; one collector in a
private ``CollectorRegistry`` reshapes them into OVMS's families: counters without the ``_total``
suffix prometheus-client adds, no ``_created`` series, and the series with and without a
``version`` label in one family. ``render`` writes the text format itself because
prometheus-client's writer would append ``_total`` to counter names.

Every label child a request touches is bound once, when a model version is first seen
(``VersionSeries``); a request costs one dictionary lookup by (name, version) and a few
increments. Histograms and the in-process gauge are plain Python cells (``LeanHistogram``, an int)
rather than prometheus-client's locked values: every update runs on the event loop, and
prometheus-client's ``observe`` alone costs about 2 µs, three times per inference; their ``le``
bounds print as integers, as OVMS's do.

Beyond OVMS, for dynamically batched versions: ``ovms_batch_executions`` (inferences run),
``ovms_batch_requests`` (requests they served) and ``ovms_batch_queue_time_us`` (each request's
wait for its batch), all labelled ``name`` and ``version``. For loaded stateful versions (spec §9):
``ovms_sequences`` (live sequences, a gauge), ``ovms_sequences_started``, ``ovms_sequences_ended`` and
``ovms_sequences_cleaned`` (counters), labelled the same.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from ovms_cli.errors import ServingError
from ovms_cli.servables.manager import ModelManager
from ovms_cli.servables.servable import Servable
from ovms_cli.types import State

BUCKETS_US = tuple(math.floor(10 * 1.8**i) for i in range(33))

TFS, KSERVE = "TensorFlowServing", "KServe"
GRPC, REST = "gRPC", "REST"
INTERFACES = (GRPC, REST)

SUCCESS = "ovms_requests_success"
FAIL = "ovms_requests_fail"
REQUEST_TIME = "ovms_request_time_us"
INFERENCE_TIME = "ovms_inference_time_us"
WAIT_TIME = "ovms_wait_for_infer_req_time_us"
STREAMS = "ovms_streams"
QUEUE_SIZE = "ovms_infer_req_queue_size"
ACTIVE = "ovms_infer_req_active"
CURRENT = "ovms_current_requests"
BATCH_EXECUTIONS = "ovms_batch_executions"
BATCH_REQUESTS = "ovms_batch_requests"
BATCH_QUEUE_TIME = "ovms_batch_queue_time_us"
SEQUENCES = "ovms_sequences"
SEQUENCES_STARTED = "ovms_sequences_started"
SEQUENCES_ENDED = "ovms_sequences_ended"
SEQUENCES_CLEANED = "ovms_sequences_cleaned"

HELP = {
    CURRENT: "Number of inference requests currently in process.",
    SUCCESS: "Number of successful requests to a model or a DAG.",
    FAIL: "Number of failed requests to a model or a DAG.",
    REQUEST_TIME: "Processing time of requests to a model or a DAG.",
    STREAMS: "Number of OpenVINO execution streams.",
    INFERENCE_TIME: "Inference execution time in the OpenVINO backend.",
    WAIT_TIME: "Request waiting time in the scheduling queue.",
    QUEUE_SIZE: "Inference request queue size (nireq).",
    ACTIVE: "Number of currently consumed inference request from the processing queue.",
    BATCH_EXECUTIONS: "Number of inferences run by the dynamic batcher.",
    BATCH_REQUESTS: "Number of requests served by the dynamic batcher's inferences.",
    BATCH_QUEUE_TIME: "Time requests waited in the dynamic batcher's queue.",
    SEQUENCES: "Number of live sequences of a stateful model version.",
    SEQUENCES_STARTED: "Number of sequences a stateful model version started.",
    SEQUENCES_ENDED: "Number of sequences a stateful model version ended on request.",
    SEQUENCES_CLEANED: "Number of idle sequences the sequence cleaner removed.",
}
_SEQUENCE_FAMILIES = (  # family, its type, the SequenceCounts field it reads
    (SEQUENCES, "gauge", "live"),
    (SEQUENCES_STARTED, "counter", "started"),
    (SEQUENCES_ENDED, "counter", "ended"),
    (SEQUENCES_CLEANED, "counter", "cleaned"),
)
OVMS_DEFAULT = (CURRENT, SUCCESS, FAIL, REQUEST_TIME, STREAMS, INFERENCE_TIME, WAIT_TIME)
DEFAULT_FAMILIES = (
    *OVMS_DEFAULT,
    BATCH_EXECUTIONS,
    BATCH_REQUESTS,
    BATCH_QUEUE_TIME,
    SEQUENCES,
    SEQUENCES_STARTED,
    SEQUENCES_ENDED,
    SEQUENCES_CLEANED,
)
ALL_FAMILIES = tuple(HELP)

_BY_VERSION = ("name", "version")
_REQUEST_LABELS = ("api", "interface", "method", "name")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What a request counts against: its API, interface and method (spec §10.2 labels).

    The rest is derived once, so that counting a request reads attributes only.
    """

    api: str
    interface: str
    method: str
    slot: int  # index in ENDPOINTS and in the series' lists
    interface_index: int
    versionless: bool  # GetModelStatus and ModelReady series have no version label
    timed: bool  # request time is observed for Predict and ModelInfer only
    counts_failures: bool  # GetModelStatus counts successes only


_METHODS = {
    TFS: ("Predict", "GetModelMetadata", "GetModelStatus"),
    KSERVE: ("ModelInfer", "ModelMetadata", "ModelReady"),
}
ENDPOINTS = tuple(
    Endpoint(
        api,
        interface,
        method,
        slot,
        INTERFACES.index(interface),
        method in ("GetModelStatus", "ModelReady"),
        method in ("Predict", "ModelInfer"),
        method != "GetModelStatus",
    )
    for slot, (api, method, interface) in enumerate(
        (api, method, interface)
        for api, methods in _METHODS.items()
        for method in methods
        for interface in INTERFACES
    )
)


def endpoint(api: str, interface: str, method: str) -> Endpoint:
    for found in ENDPOINTS:
        if (found.api, found.interface, found.method) == (api, interface, method):
            return found
    raise KeyError(f"no {api} {method} over {interface}")


class LeanHistogram:
    """One histogram series: a count per bucket of ``BUCKETS_US`` (and +Inf) and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS_US) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS_US, value)] += 1
        self.total += value


class HistogramFamily:
    """Lean histogram series by label values, exposed as Prometheus histogram samples."""

    def __init__(self, name: str, labelnames: tuple[str, ...]) -> None:
        self.name = name
        self.labelnames = labelnames
        self._series: dict[tuple[str, ...], LeanHistogram] = {}

    def labels(self, *values: str) -> LeanHistogram:
        return self._series.setdefault(values, LeanHistogram())

    def samples(self) -> Iterator[Sample]:
        bounds = [*(str(b) for b in BUCKETS_US), "+Inf"]
        for values, series in list(self._series.items()):
            labels = dict(zip(self.labelnames, values, strict=True))
            cumulative = 0
            for bound, count in zip(bounds, series.counts, strict=True):
                cumulative += count
                yield Sample(f"{self.name}_bucket", {**labels, "le": bound}, cumulative)
            yield Sample(f"{self.name}_count", labels, cumulative)
            yield Sample(f"{self.name}_sum", labels, series.total)


class MetricsConfigError(ValueError):
    """An unknown family name in ``--metrics_list`` or ``monitoring.metrics.metrics_list``."""


def parse_families(names: Iterable[str]) -> tuple[str, ...]:
    """The listed families, checked; an empty list means the default set."""
    listed = tuple(n.strip() for n in names if n.strip())
    unknown = [n for n in listed if n not in HELP]
    if unknown:
        raise MetricsConfigError(f"Invalid metrics family name: {', '.join(unknown)}")
    return listed or DEFAULT_FAMILIES


class ModelSeries:
    """The series of a model without a version label (GetModelStatus, ModelReady), by endpoint slot."""

    __slots__ = ("fail", "success")

    def __init__(self, families: _Families, name: str) -> None:
        self.success: list[Any] = [None] * len(ENDPOINTS)
        self.fail: list[Any] = [None] * len(ENDPOINTS)
        for endpoint in ENDPOINTS:
            if endpoint.versionless:
                labels = (endpoint.api, endpoint.interface, endpoint.method, name)
                self.success[endpoint.slot] = families.success_by_model.labels(*labels)
                self.fail[endpoint.slot] = families.fail_by_model.labels(*labels)


class VersionSeries:
    """Every label child one model version's requests touch, bound once; observer of its queues."""

    __slots__ = (
        "_batch_queue_time",
        "_families",
        "_inference_time",
        "_wait_time",
        "current",
        "fail",
        "labels",
        "request_time",
        "resources",
        "served",
        "success",
    )

    def __init__(
        self, families: _Families, model: ModelSeries, name: str, version: int, resources: bool = True
    ) -> None:
        """``resources``: False for a pipeline, which OVMS gives only the request families (§10.2)."""
        self.labels = (name, str(version))
        self._families = families
        self.success = list(model.success)
        self.fail = list(model.fail)
        for endpoint in ENDPOINTS:
            if not endpoint.versionless:
                labels = (endpoint.api, endpoint.interface, endpoint.method, *self.labels)
                self.success[endpoint.slot] = families.success.labels(*labels)
                self.fail[endpoint.slot] = families.fail.labels(*labels)
        self.request_time = [families.request_time.labels(i, *self.labels) for i in INTERFACES]
        self.current = 0
        self.served: Servable | None = None
        self.resources = resources
        if not resources:
            return
        self._inference_time = families.inference_time.labels(*self.labels)
        self._wait_time = families.wait_time.labels(*self.labels)
        families.current.labels(*self.labels).set_function(lambda: self.current)
        self._batch_queue_time = families.batch_queue_time.labels(*self.labels)
        self.stopped()

    def serve(self, version: Servable) -> None:
        """Observe this loaded version; set its stream and queue gauges."""
        self.served = version
        version.observe(self)
        capacity = version.capacity()
        if capacity is None or not self.resources:
            return
        self._families.streams.labels(*self.labels).set(capacity.streams)
        self._families.queue_size.labels(*self.labels).set(capacity.infer_requests)
        self._families.active.labels(*self.labels).set_function(version.active_requests)

    def stopped(self) -> None:
        """Not (or no longer) loaded: the gauges of its resources read 0."""
        self.served = None
        if not self.resources:
            return
        self._families.streams.labels(*self.labels).set(0)
        self._families.queue_size.labels(*self.labels).set(0)
        self._families.active.labels(*self.labels).set_function(lambda: 0)

    def batch_stats(self) -> tuple[int, int] | None:
        """(executions, requests) of this version's batcher, if it batches."""
        return None if self.served is None else self.served.batch_stats()

    # ServableObserver: called on the event loop by the version it observes.
    def request_started(self) -> None:
        self.current += 1

    def request_finished(self) -> None:
        self.current -= 1

    def waited(self, seconds: float) -> None:
        self._wait_time.observe(seconds * 1e6)

    def inferred(self, seconds: float) -> None:
        self._inference_time.observe(seconds * 1e6)

    def queued(self, seconds: float) -> None:
        self._batch_queue_time.observe(seconds * 1e6)

    def request_served(
        self, ok: bool, seconds: float, input_seconds: float, output_seconds: float, rows: int
    ) -> None:
        """Outcomes are counted per endpoint by ``count``; only Triton's statistics use this."""


class _Families:
    """The value stores, one per family (two for the counters: with and without version)."""

    def __init__(self) -> None:
        def histogram(name: str, labels: tuple[str, ...]) -> HistogramFamily:
            return HistogramFamily(name, labels)

        def gauge(name: str) -> Gauge:
            return Gauge(name, HELP[name], _BY_VERSION, registry=None)

        self.success = Counter(SUCCESS, HELP[SUCCESS], (*_REQUEST_LABELS, "version"), registry=None)
        self.fail = Counter(FAIL, HELP[FAIL], (*_REQUEST_LABELS, "version"), registry=None)
        self.success_by_model = Counter(SUCCESS, HELP[SUCCESS], _REQUEST_LABELS, registry=None)
        self.fail_by_model = Counter(FAIL, HELP[FAIL], _REQUEST_LABELS, registry=None)
        self.request_time = histogram(REQUEST_TIME, ("interface", *_BY_VERSION))
        self.inference_time = histogram(INFERENCE_TIME, _BY_VERSION)
        self.wait_time = histogram(WAIT_TIME, _BY_VERSION)
        self.batch_queue_time = histogram(BATCH_QUEUE_TIME, _BY_VERSION)
        self.streams = gauge(STREAMS)
        self.queue_size = gauge(QUEUE_SIZE)
        self.active = gauge(ACTIVE)
        self.current = gauge(CURRENT)

    def stores(self, family: str) -> tuple[MetricWrapperBase | HistogramFamily, ...]:
        stores: dict[str, tuple[MetricWrapperBase | HistogramFamily, ...]] = {
            SUCCESS: (self.success, self.success_by_model),
            FAIL: (self.fail, self.fail_by_model),
            REQUEST_TIME: (self.request_time,),
            INFERENCE_TIME: (self.inference_time,),
            WAIT_TIME: (self.wait_time,),
            BATCH_QUEUE_TIME: (self.batch_queue_time,),
            STREAMS: (self.streams,),
            QUEUE_SIZE: (self.queue_size,),
            ACTIVE: (self.active,),
            CURRENT: (self.current,),
        }
        return stores.get(family, ())


class ServingMetrics:
    """The server's metrics: series per model version, request counting, exposition."""

    def __init__(self, manager: ModelManager, families: Collection[str] = DEFAULT_FAMILIES) -> None:
        self._manager = manager
        self._families = _Families()
        self._versions: dict[tuple[str, int], VersionSeries] = {}
        self._models: dict[str, ModelSeries] = {}
        self.enabled = tuple(f for f in ALL_FAMILIES if f in families)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_OvmsCollector(self))  # type: ignore[arg-type]

    def count(self, endpoint: Endpoint, name: str, version: int | None, ok: bool, seconds: float) -> None:
        """One finished request; nothing for a model or version the server does not have."""
        target = self._model(name) if endpoint.versionless else self._version(name, version)
        if target is None:
            return
        if ok:
            target.success[endpoint.slot].inc()
            if endpoint.timed:
                assert isinstance(target, VersionSeries)
                target.request_time[endpoint.interface_index].observe(seconds * 1e6)
        elif endpoint.counts_failures:
            target.fail[endpoint.slot].inc()

    def sync(self) -> None:
        """Bind every version the manager holds; follow loads, reloads and unloads."""
        for name, number, version in self._manager.servables():
            series = self._versions.get((name, number)) or self._bind(name, number, version)
            self._follow(series, version)

    def render(self) -> bytes:
        self.sync()
        return render(self.registry)

    async def scrape(self) -> bytes:
        """What ``GET /metrics`` answers: ``render()`` here, every worker's sum in a pool."""
        return self.render()

    def _model(self, name: str) -> ModelSeries | None:
        found = self._models.get(name)
        if found is None and self._manager.has(name):
            found = self._models[name] = ModelSeries(self._families, name)
        return found

    def _version(self, name: str, version: int | None) -> VersionSeries | None:
        try:
            served = self._manager.resolve(name, version)
        except ServingError:
            return None
        found = self._versions.get((name, served.version))
        if found is None:
            found = self._bind(name, served.version, served)
        if found.served is not served:
            self._follow(found, served)
        return found

    def _bind(self, name: str, number: int, version: Servable) -> VersionSeries:
        model = self._model(name) or ModelSeries(self._families, name)
        resources = not self._manager.is_pipeline(name)
        series = self._versions[(name, number)] = VersionSeries(
            self._families, model, name, number, resources
        )
        self._follow(series, version)
        return series

    @staticmethod
    def _follow(series: VersionSeries, version: Servable) -> None:
        if version.state is State.AVAILABLE:
            if series.served is not version:
                series.serve(version)
        elif series.served is not None:
            series.stopped()

    def _batch_counters(self) -> Iterator[Metric]:
        stats = [(s.labels, s.batch_stats()) for s in self._versions.values()]
        for family, index in ((BATCH_EXECUTIONS, 0), (BATCH_REQUESTS, 1)):
            metric = Metric(family, HELP[family], "counter")
            for labels, counts in stats:
                if counts is not None:
                    metric.add_sample(family, dict(zip(_BY_VERSION, labels, strict=True)), counts[index])
            yield metric

    def _sequence_metrics(self) -> Iterator[Metric]:
        """From the sequence stores of the loaded stateful versions (a reload starts a version's counts anew)."""
        stores = [
            ({"name": name, "version": str(number)}, store.counts)
            for name, number, store in self._manager.sequence_stores()
        ]
        for family, kind, field in _SEQUENCE_FAMILIES:
            metric = Metric(family, HELP[family], kind)
            for labels, counts in stores:
                metric.add_sample(family, labels, getattr(counts, field))
            yield metric


class _OvmsCollector:
    """Yields the enabled families in OVMS's shape (see the module docstring)."""

    def __init__(self, metrics: ServingMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        batch = {m.name: m for m in (*metrics._batch_counters(), *metrics._sequence_metrics())}
        for family in metrics.enabled:
            if family in batch:
                yield batch[family]
                continue
            stores = metrics._families.stores(family)
            reshaped = Metric(family, HELP[family], _type(stores[0]))
            for store in stores:
                if isinstance(store, HistogramFamily):
                    reshaped.samples.extend(store.samples())
                    continue
                for collected in store.collect():
                    reshaped.samples.extend(_ovms_samples(family, collected.samples))
            yield reshaped


def _type(store: MetricWrapperBase | HistogramFamily) -> str:
    return {Counter: "counter", Gauge: "gauge", HistogramFamily: "histogram"}[type(store)]


def _ovms_samples(family: str, samples: Iterable[Sample]) -> Iterator[Sample]:
    for sample in samples:
        if sample.name.endswith("_created"):
            continue
        name = family if sample.name == family + "_total" else sample.name
        yield Sample(name, sample.labels, sample.value)


def render(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format (0.0.4), family and sample names exactly as collected."""
    lines: list[str] = []
    for metric in registry.collect():
        lines.append(f"# HELP {metric.name} {_escape_help(metric.documentation)}")
        lines.append(f"# TYPE {metric.name} {metric.type}")
        lines.extend(_sample_line(s) for s in metric.samples)
    return ("\n".join(lines) + "\n").encode()


def _sample_line(sample: Sample) -> str:
    labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sample.labels.items())
    value = _value_text(float(sample.value))
    return f"{sample.name}{{{labels}}} {value}" if labels else f"{sample.name} {value}"


def _value_text(value: float) -> str:
    """Integers without a fraction, as OVMS prints counts; ``+Inf``/``NaN`` as Prometheus spells them."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
