"""Summing the workers' expositions: what a scrape of any worker answers."""

from __future__ import annotations

from ovms_cli.workers.metrics_sum import sum_expositions

WORKER_0 = b"""# HELP ovms_requests_success Number of successful requests to a model or a DAG.
# TYPE ovms_requests_success counter
ovms_requests_success{api="KServe",interface="REST",method="ModelInfer",name="m",version="1"} 3
# HELP ovms_request_time_us Processing time of requests to a model or a DAG.
# TYPE ovms_request_time_us histogram
ovms_request_time_us_bucket{interface="REST",name="m",version="1",le="10"} 1
ovms_request_time_us_bucket{interface="REST",name="m",version="1",le="+Inf"} 3
ovms_request_time_us_count{interface="REST",name="m",version="1"} 3
ovms_request_time_us_sum{interface="REST",name="m",version="1"} 45.5
"""
WORKER_1 = b"""# HELP ovms_requests_success Number of successful requests to a model or a DAG.
# TYPE ovms_requests_success counter
ovms_requests_success{api="KServe",interface="REST",method="ModelInfer",name="m",version="1"} 4
ovms_requests_success{api="KServe",interface="REST",method="ModelInfer",name="m",version="2"} 1
# HELP ovms_request_time_us Processing time of requests to a model or a DAG.
# TYPE ovms_request_time_us histogram
ovms_request_time_us_bucket{interface="REST",name="m",version="1",le="10"} 0
ovms_request_time_us_bucket{interface="REST",name="m",version="1",le="+Inf"} 4
ovms_request_time_us_count{interface="REST",name="m",version="1"} 4
ovms_request_time_us_sum{interface="REST",name="m",version="1"} 100
# HELP ovms_streams Number of OpenVINO execution streams.
# TYPE ovms_streams gauge
ovms_streams{name="m",version="1"} 1
"""


def test_samples_add_up_and_keep_each_family_under_its_header() -> None:
    summed = sum_expositions([WORKER_0, WORKER_1]).decode()

    assert summed == (
        "# HELP ovms_requests_success Number of successful requests to a model or a DAG.\n"
        "# TYPE ovms_requests_success counter\n"
        'ovms_requests_success{api="KServe",interface="REST",method="ModelInfer",name="m",version="1"} 7\n'
        'ovms_requests_success{api="KServe",interface="REST",method="ModelInfer",name="m",version="2"} 1\n'
        "# HELP ovms_request_time_us Processing time of requests to a model or a DAG.\n"
        "# TYPE ovms_request_time_us histogram\n"
        'ovms_request_time_us_bucket{interface="REST",name="m",version="1",le="10"} 1\n'
        'ovms_request_time_us_bucket{interface="REST",name="m",version="1",le="+Inf"} 7\n'
        'ovms_request_time_us_count{interface="REST",name="m",version="1"} 7\n'
        'ovms_request_time_us_sum{interface="REST",name="m",version="1"} 145.5\n'
        "# HELP ovms_streams Number of OpenVINO execution streams.\n"
        "# TYPE ovms_streams gauge\n"
        'ovms_streams{name="m",version="1"} 1\n'
    )


def test_one_worker_is_its_own_sum() -> None:
    assert sum_expositions([WORKER_1]) == WORKER_1


def test_no_series_sum_to_an_empty_exposition() -> None:
    assert sum_expositions([b"", b""]) == b""
