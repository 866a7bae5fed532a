"""KServe's Python model server with a minimal OpenVINO runtime: the peer in the issue's targets table.

KServe is not one of ovms's dependencies; it goes into a venv of its own:

    python3 -m venv /tmp/kserve-venv && /tmp/kserve-venv/bin/pip install kserve openvino
    /tmp/kserve-venv/bin/python benchmarks/kserve_peer.py --model_path benchmarks/out/models/mobilenet_v2 \\
        --http_port 8710 --grpc_port 9710

It serves the model as ``m`` over KServe v2 REST and gRPC (``inference.GRPCInferenceService``), so
``benchmarks/thread_cost.py --peer`` loads it with the same prebuilt h2load and wrk bodies as ovms.
The runtime is what a user would write: THROUGHPUT hint, a pool of twice the optimal number of
infer requests, each inference run in a thread so the event loop keeps serving.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import openvino as ov
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer


class OpenVINOModel(Model):  # type: ignore[misc]
    def __init__(self, name: str, model_xml: Path) -> None:
        super().__init__(name)
        self.compiled = ov.Core().compile_model(str(model_xml), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
        self.output_name = self.compiled.output(0).any_name
        self.size = 2 * self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self.pool: asyncio.Queue[ov.InferRequest] | None = None
        self.ready = True

    def _requests(self) -> asyncio.Queue[ov.InferRequest]:
        if self.pool is None:
            self.pool = asyncio.Queue()
            for _ in range(self.size):
                self.pool.put_nowait(self.compiled.create_infer_request())
        return self.pool

    async def predict(
        self, payload: InferRequest, headers: Any = None, response_headers: Any = None
    ) -> InferResponse:
        array = payload.inputs[0].as_numpy()
        pool = self._requests()
        request = await pool.get()
        try:
            await asyncio.to_thread(request.infer, {0: array})
            result = request.get_output_tensor(0).data.copy()
        finally:
            pool.put_nowait(request)
        output = InferOutput(name=self.output_name, shape=list(result.shape), datatype="FP32")
        output.set_data_from_numpy(result, binary_data=True)
        response_id = payload.id or ""  # KServe answers a request without an id with an empty one
        return InferResponse(model_name=self.name, infer_outputs=[output], response_id=response_id)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model_path", type=Path, required=True, help="an OVMS base path: <path>/1/model.xml"
    )
    parser.add_argument("--http_port", type=int, default=8710)
    parser.add_argument("--grpc_port", type=int, default=9710)
    args = parser.parse_args()
    model = OpenVINOModel("m", args.model_path / "1" / "model.xml")
    ModelServer(http_port=args.http_port, grpc_port=args.grpc_port).start([model])


if __name__ == "__main__":
    main()
