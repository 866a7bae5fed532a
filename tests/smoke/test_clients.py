"""The clients users have, at whatever versions pip resolved, against `ovms demo`.

KServe v2 with the README's Python example, run with tritonclient.grpc and tritonclient.http,
and TensorFlow Serving predict with ovmsclient over gRPC and REST.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import ovmsclient
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from server_process import ServerProcess


@pytest.mark.parametrize(("client_module", "protocol"), [(grpcclient, "grpc"), (httpclient, "rest")])
def test_readme_tritonclient_example(
    demo_server: ServerProcess,
    expected_probabilities: npt.NDArray[np.float32],
    client_module: Any,
    protocol: str,
) -> None:
    """The README's example (gRPC) and the same with tritonclient.http, whose API has that shape."""
    client = client_module.InferenceServerClient(
        demo_server.grpc_url if protocol == "grpc" else demo_server.rest_url
    )
    x = client_module.InferInput("input", [2, 4], "FP32")
    x.set_data_from_numpy(np.arange(8, dtype=np.float32).reshape(2, 4))
    result = client.infer("demo", [x])
    client.close()
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected_probabilities, rtol=1e-5)


def test_ovmsclient_grpc_and_rest_predict(
    demo_server: ServerProcess,
    readme_input: npt.NDArray[np.float32],
    expected_probabilities: npt.NDArray[np.float32],
) -> None:
    for client in (
        ovmsclient.make_grpc_client(demo_server.grpc_url),
        ovmsclient.make_http_client(demo_server.rest_url),
    ):
        answer = client.predict({"input": readme_input}, "demo")
        np.testing.assert_allclose(answer, expected_probabilities, rtol=1e-5)
