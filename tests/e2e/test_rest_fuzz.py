"""Fuzz a running server's REST API from docs/openapi.yaml with schemathesis.

Every operation of the document gets schema examples, schemathesis's coverage cases and
``MAX_EXAMPLES`` generated requests (``OVMS_FUZZ_EXAMPLES`` for a longer run), valid and invalid ones: no answer may be a 5xx, none may take
longer than ``REQUEST_TIMEOUT_S``, and the server must still serve afterwards. Most generated names
are replaced by a served model's, so requests reach the codecs rather than stopping at 404.
The number of requests and the histogram of status codes are printed in the test summary.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from e2e.fuzz_record import FuzzRecord
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from server_process import ServerProcess, start_server

OPENAPI = Path(__file__).parents[2] / "docs" / "openapi.yaml"
MAX_EXAMPLES = int(os.environ.get("OVMS_FUZZ_EXAMPLES", "50"))  # per operation; CI keeps the default
REQUEST_TIMEOUT_S = 20
SERVED = ("affine", "add_mul", "echo")  # FP32, INT32 with two inputs, and strings

schema = schemathesis.openapi.from_path(OPENAPI)
schema.config.generation.update(modes=["positive", "negative"], max_examples=MAX_EXAMPLES, deterministic=True)


@pytest.fixture(scope="module")
def fuzzed_server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    models = [{"config": {"name": name, "base_path": str(repository / name)}} for name in SERVED]
    config = tmp_path_factory.mktemp("fuzz") / "config.json"
    config.write_text(json.dumps({"model_config_list": models}))
    running = start_server(
        ["--config_path", str(config), "--metrics_enable", "--max_request_size", str(1 << 20)],
        config.parent / "ovms.log",
    )
    yield running
    running.stop()


def _served_name(generated: str) -> str:
    """A served model for three generated names in four; the fourth keeps its random name."""
    pick = zlib.crc32(generated.encode("utf-8", "surrogatepass"))
    return generated if pick % 4 == 0 else SERVED[pick % len(SERVED)]


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_no_request_gets_a_server_error(
    case: schemathesis.Case, fuzzed_server: ServerProcess, fuzz_record: FuzzRecord
) -> None:
    if isinstance(case.path_parameters, dict) and "name" in case.path_parameters:
        case.path_parameters["name"] = _served_name(str(case.path_parameters["name"]))
    try:
        response = case.call(base_url=f"http://{fuzzed_server.rest_url}", timeout=REQUEST_TIMEOUT_S)
    except Exception as error:
        fuzz_record.add(case.operation.label, f"no answer: {type(error).__name__}")
        raise
    fuzz_record.add(case.operation.label, str(response.status_code))
    case.validate_response(response, checks=[not_a_server_error])


def test_the_server_still_serves_after_the_fuzzing(fuzzed_server: ServerProcess) -> None:
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    answer = httpx.post(f"http://{fuzzed_server.rest_url}/v2/models/affine/infer", json=body, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["outputs"][0]["data"] == [3.0, 5.0, 7.0, 9.0]
    assert fuzzed_server.process.poll() is None
    assert "Unexpected error" not in fuzzed_server.log_text()
