"""Generative metrics in vLLM's vocabulary, added to ``/metrics`` beside OVMS's families.

Counted on the event loop (plain ints and ``LeanHistogram`` cells, as ``metrics.py`` does):

- ``ovms_llm_requests{name,endpoint,outcome}``: finished requests (outcome ``success``/``failure``);
- ``ovms_llm_prompt_tokens{name}``, ``ovms_llm_generation_tokens{name}``: token counts (counters);
- ``ovms_llm_time_to_first_token_seconds{name}``, ``ovms_llm_time_per_output_token_seconds{name}``:
  histograms (vLLM's ``time_to_first_token_seconds``/``time_per_output_token_seconds``; the latter
  observes a request's mean interval between tokens once per interval, as vLLM observes each one);
- ``ovms_llm_num_requests_running{name}``, ``ovms_llm_num_requests_waiting{name}``,
  ``ovms_llm_kv_cache_usage_perc{name}``: the scheduler after its last step (gauges).

They appear with ``--metrics_enable`` once a generative model is configured, whatever
``--metrics_list`` says (OVMS has no such families to list).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from ovms_cli.servables.generative.host import GenerativeHost

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TPOT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)


class _Histogram:
    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += times
        self.total += value * times

    def buckets(self) -> list[tuple[str, float]]:
        running = 0
        out: list[tuple[str, float]] = []  # cumulative counts, as Prometheus wants them
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class GenerativeMetrics:
    """Fed by the ``/v3`` routes; read by Prometheus through ``collect``."""

    def __init__(self, host: GenerativeHost) -> None:
        self._host = host
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.prompt_tokens: dict[str, int] = defaultdict(int)
        self.generation_tokens: dict[str, int] = defaultdict(int)
        self.ttft: dict[str, _Histogram] = {}
        self.tpot: dict[str, _Histogram] = {}

    def request(self, name: str, endpoint: str, ok: bool) -> None:
        self.requests[(name, endpoint, "success" if ok else "failure")] += 1

    def generated(
        self, name: str, prompt_tokens: int, tokens: int, ttft: float | None, per_token: float | None
    ) -> None:
        self.prompt_tokens[name] += prompt_tokens
        self.generation_tokens[name] += tokens
        if ttft is not None:
            self.ttft.setdefault(name, _Histogram(TTFT_BUCKETS)).observe(ttft)
        if per_token is not None and tokens > 1:  # vLLM: one observation per inter-token interval
            self.tpot.setdefault(name, _Histogram(TPOT_BUCKETS)).observe(per_token, tokens - 1)

    def collect(self) -> Iterator[Metric]:
        """Nothing while no generative model is configured: a classic server's /metrics and its
        --metrics_list selection stay OVMS's exactly."""
        if self._host.registry is None:
            return
        requests = CounterMetricFamily(
            "ovms_llm_requests", "Finished generative requests.", labels=("name", "endpoint", "outcome")
        )
        for labels, count in self.requests.items():
            requests.add_metric(labels, count)
        yield requests
        for family, text, values in (
            ("ovms_llm_prompt_tokens", "Prompt tokens processed.", self.prompt_tokens),
            ("ovms_llm_generation_tokens", "Tokens generated.", self.generation_tokens),
        ):
            counter = CounterMetricFamily(family, text, labels=("name",))
            for name, count in values.items():
                counter.add_metric((name,), count)
            yield counter
        for family, text, histograms in (
            ("ovms_llm_time_to_first_token_seconds", "Time to first token.", self.ttft),
            ("ovms_llm_time_per_output_token_seconds", "Time per output token after the first.", self.tpot),
        ):
            histogram = HistogramMetricFamily(family, text, labels=("name",))
            for name, cells in histograms.items():
                histogram.add_metric((name,), cells.buckets(), cells.total)
            yield histogram
        yield from self._load()

    def _load(self) -> Iterator[Metric]:
        running = GaugeMetricFamily(
            "ovms_llm_num_requests_running", "Sequences scheduled in the last step.", labels=("name",)
        )
        waiting = GaugeMetricFamily(
            "ovms_llm_num_requests_waiting", "Requests waiting to be scheduled.", labels=("name",)
        )
        usage = GaugeMetricFamily(
            "ovms_llm_kv_cache_usage_perc", "KV cache in use, percent.", labels=("name",)
        )
        registry = self._host.registry
        for servable in [] if registry is None else registry.text_generation():
            load = servable.load
            running.add_metric((servable.config.name,), load.running)
            waiting.add_metric((servable.config.name,), load.waiting)
            usage.add_metric((servable.config.name,), load.kv_cache_usage)
        yield running
        yield waiting
        yield usage
