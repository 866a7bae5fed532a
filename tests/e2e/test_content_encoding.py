"""Content-Encoding on every REST endpoint, against a real server: tritonclient.http's compression
options, raw curl-style requests, a body that inflates past --max_request_size, and unknown codings."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from builders import affine_model, write_ir
from server_process import ServerProcess, start_server

LIMIT = 1 << 20
X = np.arange(8, dtype=np.float32).reshape(2, 4)
BIG = np.arange(4096, dtype=np.float32).reshape(1024, 4)  # a response of some KiB: worth compressing
COMPRESS = {"gzip": gzip.compress, "deflate": zlib.compress}


def raw_deflate(body: bytes) -> bytes:
    """RFC 1951 deflate without the zlib header and checksum, as some clients send ``deflate``."""
    encoder = zlib.compressobj(6, zlib.DEFLATED, -15)
    return encoder.compress(body) + encoder.flush()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("encoding")
    model = write_ir(affine_model(), root / "affine", 1)
    running = start_server(
        ["--model_name", "affine", "--model_path", str(model), "--max_request_size", str(LIMIT)],
        root / "ovms.log",
    )
    yield running
    running.stop()


def _json_body(data: np.ndarray) -> bytes:
    tensor = {"name": "input", "shape": list(data.shape), "datatype": "FP32", "data": data.flatten().tolist()}
    return json.dumps({"inputs": [tensor]}).encode()


@pytest.mark.parametrize("request_coding", [None, "gzip", "deflate"])
@pytest.mark.parametrize("response_coding", [None, "gzip", "deflate"])
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_http_with_both_compression_options(
    server: ServerProcess, request_coding: str | None, response_coding: str | None, binary: bool
) -> None:
    client = httpclient.InferenceServerClient(server.rest_url)
    data = httpclient.InferInput("input", list(BIG.shape), "FP32")
    data.set_data_from_numpy(BIG, binary_data=binary)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("scaled", "total")]
    result = client.infer(
        "affine",
        [data],
        outputs=outputs,
        request_compression_algorithm=request_coding,
        response_compression_algorithm=response_coding,
    )
    np.testing.assert_array_equal(result.as_numpy("scaled"), BIG * 2 + 1)
    np.testing.assert_array_equal(result.as_numpy("total"), BIG.sum(axis=1))


@pytest.mark.parametrize("coding", ["gzip", "deflate", "x-gzip", "identity"])
def test_a_curl_style_compressed_body_reaches_both_apis(server: ServerProcess, coding: str) -> None:
    """``curl -H 'Content-Encoding: gzip' --data-binary @body.json.gz .../infer``."""
    pack = COMPRESS.get(coding.removeprefix("x-"), lambda b: b)
    headers = {"Content-Encoding": coding}
    kserve = httpx.post(
        f"http://{server.rest_url}/v2/models/affine/infer", content=pack(_json_body(X)), headers=headers
    )
    assert kserve.status_code == 200, kserve.text
    assert kserve.json()["outputs"][0]["data"] == (X * 2 + 1).flatten().tolist()
    predict = json.dumps({"instances": X.tolist()}).encode()
    tfs = httpx.post(
        f"http://{server.rest_url}/v1/models/affine:predict", content=pack(predict), headers=headers
    )
    assert tfs.status_code == 200, tfs.text
    assert tfs.json()["predictions"][0]["scaled"] == (X[0] * 2 + 1).tolist()


def test_a_gzip_body_in_small_chunks_is_decoded_as_it_streams(server: ServerProcess) -> None:
    packed = gzip.compress(_json_body(BIG))

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(packed), 1000):
            yield packed[start : start + 1000]

    answer = httpx.post(
        f"http://{server.rest_url}/v2/models/affine/infer",
        content=chunks(),
        headers={"Content-Encoding": "gzip"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][1]["data"] == BIG.sum(axis=1).tolist()


def test_a_raw_deflate_body_is_decoded_in_small_chunks(server: ServerProcess) -> None:
    """No zlib header: decoded as raw deflate, as browsers do; one byte first to split the sniff."""
    packed = raw_deflate(_json_body(BIG))
    answer = httpx.post(
        f"http://{server.rest_url}/v2/models/affine/infer",
        content=iter([packed[:1], packed[1:1000], packed[1000:]]),
        headers={"Content-Encoding": "deflate"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][1]["data"] == BIG.sum(axis=1).tolist()


def test_stacked_codings_are_undone_layer_by_layer(server: ServerProcess) -> None:
    """RFC 9110 §8.4: codings are listed in the order applied; here gzip, then gzip, then deflate."""
    packed = zlib.compress(gzip.compress(gzip.compress(_json_body(X))))
    answer = httpx.post(
        f"http://{server.rest_url}/v2/models/affine/infer",
        content=packed,
        headers={"Content-Encoding": "gzip, gzip, deflate"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == (X * 2 + 1).flatten().tolist()


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw deflate"])
def test_a_small_body_that_inflates_past_the_limit_is_413(server: ServerProcess, coding: str) -> None:
    pack = raw_deflate if coding == "raw deflate" else COMPRESS[coding]
    coding = coding.removeprefix("raw ")
    bomb = pack(b" " * (64 * LIMIT))  # 64 MiB of spaces in about 64 KiB
    assert len(bomb) < LIMIT // 10
    answer = httpx.post(
        f"http://{server.rest_url}/v2/models/affine/infer", content=bomb, headers={"Content-Encoding": coding}
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == (
        f"Request is too large - the {coding}-decoded body exceeds the limit of {LIMIT} bytes set by "
        "--max_request_size"
    )
    assert _still_serves(server)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v2/models/affine/infer", "POST"),
        ("/v1/models/affine:predict", "POST"),
        ("/v1/config/reload", "POST"),
        ("/v2/health/ready", "GET"),
    ],
)
def test_an_unknown_coding_is_415_on_every_endpoint(server: ServerProcess, path: str, method: str) -> None:
    answer = httpx.request(
        method, f"http://{server.rest_url}{path}", content=b"\x00\x01", headers={"Content-Encoding": "br"}
    )
    assert answer.status_code == 415
    assert answer.json() == {"error": "Unsupported Content-Encoding - br; supported: gzip, deflate, identity"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not gzip at all", "Invalid request body - not valid gzip data: "),
        (gzip.compress(b'{"inputs": []}')[:-6], "Invalid request body - the gzip body is truncated"),
        (gzip.compress(b"{}") + b"trailing", "Invalid request body - data after the end of the gzip stream"),
    ],
    ids=["garbage", "truncated", "trailing"],
)
def test_a_broken_gzip_body_is_400(server: ServerProcess, body: bytes, expected: str) -> None:
    answer = httpx.post(
        f"http://{server.rest_url}/v2/models/affine/infer", content=body, headers={"Content-Encoding": "gzip"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(expected)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("deflate;q=0.5, gzip;q=0.4", "deflate"),
        ("*", "gzip"),
        ("gzip;q=0, *;q=0.3", "deflate"),
        ("identity", None),
        ("br", None),
    ],
)
def test_responses_follow_accept_encoding(server: ServerProcess, accept: str, expected: str | None) -> None:
    with httpx.Client() as client:
        request = client.build_request(
            "POST", f"http://{server.rest_url}/v2/models/affine/infer", content=_json_body(BIG)
        )
        request.headers["Accept-Encoding"] = accept
        answer = client.send(request)
    assert answer.status_code == 200
    assert answer.headers.get("content-encoding") == expected
    assert answer.json()["outputs"][0]["data"] == (BIG * 2 + 1).flatten().tolist()


def _still_serves(server: ServerProcess) -> bool:
    answer = httpx.post(f"http://{server.rest_url}/v2/models/affine/infer", content=_json_body(X))
    return answer.status_code == 200 and answer.json()["outputs"][0]["data"] == (X * 2 + 1).flatten().tolist()
