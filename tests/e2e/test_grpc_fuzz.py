"""Fuzzing both gRPC APIs of a real ``ovms serve`` with hypothesis-generated requests (issue 12).

``ModelInferRequest`` (KServe, tritonclient's own protobufs) and ``PredictRequest`` (TF Serving,
ovmsclient's protobufs) with random model names and versions, tensor names, datatypes, shapes
(negative, huge, deep), typed contents of any field, raw buffers of right and wrong sizes, and
parameters of every kind, half of them built around the served models' real metadata so they get
past the first checks. A client's mistake must be answered with a status that says so: never
INTERNAL or UNKNOWN, never a hang, never a dead server, and no infer request may leak (the valid
requests after the fuzz are all answered).

The number of examples is bounded for CI (``OVMS_FUZZ_EXAMPLES``, default 300 per API) and the
run is derandomized so CI is repeatable; each run's request count and status histogram is printed
in pytest's terminal summary and written to ``grpc_fuzz_report.json`` in pytest's temporary folder.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

if TYPE_CHECKING:
    from conftest import ServerProcess

EXAMPLES = int(os.environ.get("OVMS_FUZZ_EXAMPLES", "300"))
RANDOM = os.environ.get("OVMS_FUZZ_RANDOM") == "1"  # a fresh random run instead of CI's repeatable one
# Statuses that blame the server, not the client: what the fuzzer must never see.
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED}
CALL_TIMEOUT = 30.0

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

KSERVE_DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"]
KSERVE_DATATYPES += ["FP16", "FP32", "FP64", "BYTES"]
KSERVE_ITEMSIZE = {"BOOL": 1, "UINT8": 1, "INT8": 1, "UINT16": 2, "INT16": 2, "FP16": 2, "BYTES": 1}
KSERVE_ITEMSIZE |= {"UINT32": 4, "INT32": 4, "FP32": 4, "UINT64": 8, "INT64": 8, "FP64": 8}
TF_ITEMSIZE = {"DT_FLOAT": 4, "DT_DOUBLE": 8, "DT_INT32": 4, "DT_UINT8": 1, "DT_INT16": 2, "DT_INT8": 1}
TF_ITEMSIZE |= {"DT_INT64": 8, "DT_BOOL": 1, "DT_UINT16": 2, "DT_HALF": 2, "DT_UINT32": 4, "DT_UINT64": 8}
TF_ITEMSIZE |= {"DT_STRING": 1}
KSERVE_TO_TF = {"FP32": "DT_FLOAT", "INT32": "DT_INT32", "UINT8": "DT_UINT8", "BYTES": "DT_STRING"}


@dataclass
class FuzzReport:
    """What one API's fuzz run saw: requests sent, statuses returned, faults found."""

    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)  # each error's message, details left out
    faults: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "statuses": dict(self.statuses.most_common()),
            "faults": self.faults,
        }


REPORTS: dict[str, FuzzReport] = {"KServe ModelInfer": FuzzReport(), "TFS Predict": FuzzReport()}


class _ReportPlugin:
    """Prints the histograms at the end of the run, with or without ``-s``."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("gRPC fuzz: requests and status histogram")
        for api, report in REPORTS.items():
            if report.requests:
                terminalreporter.write_line(f"{api}: {json.dumps(report.as_dict())}")
                for message, count in report.messages.most_common():
                    terminalreporter.write_line(f"    {count:5d}  {message}")


@pytest.fixture(scope="module", autouse=True)
def fuzz_report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    plugin = _ReportPlugin()
    if not request.config.pluginmanager.is_registered(plugin):
        request.config.pluginmanager.register(plugin, "ovms-grpc-fuzz-report")
    yield
    path = tmp_path_factory.getbasetemp() / "grpc_fuzz_report.json"
    path.write_text(json.dumps({api: report.as_dict() for api, report in REPORTS.items()}, indent=2))


@dataclass(frozen=True)
class Input:
    name: str
    datatype: str
    shape: tuple[int, ...]


@pytest.fixture(scope="module")
def served(kserve_stub: service_pb2_grpc.GRPCInferenceServiceStub) -> dict[str, tuple[Input, ...]]:
    """Every available model's inputs, from its real metadata."""
    models: dict[str, tuple[Input, ...]] = {}
    for name in ("affine", "add_mul", "fixed", "echo", "image_nchw", "image_nhwc"):
        meta = kserve_stub.ModelMetadata(service_pb2.ModelMetadataRequest(name=name), timeout=CALL_TIMEOUT)
        models[name] = tuple(Input(t.name, t.datatype, tuple(t.shape)) for t in meta.inputs)
    return models


# ---- strategies shared by both APIs ----

names = st.text(max_size=12)
small_dims = st.integers(0, 4)
odd_dims = st.sampled_from([-1, -(2**63), 2**31, 2**32 + 1, 2**40, 2**62, 2**63 - 1])
dims = st.one_of(small_dims, small_dims, small_dims, odd_dims)
shapes = st.one_of(st.lists(dims, max_size=5), st.lists(small_dims, min_size=33, max_size=40))
int64s = st.integers(-(2**63), 2**63 - 1)
odd_models = st.one_of(st.sampled_from(["broken", "nope", ""]), names)
odd_versions = st.one_of(st.sampled_from(["1", "2", "0", "-1", "x", "9" * 20]), names)


def rarely(draw: st.DrawFn, strategy: st.SearchStrategy[Any], usual: Any) -> Any:
    """``usual`` four times in five, else a value of ``strategy``."""
    return draw(strategy) if draw(st.integers(0, 4)) == 0 else usual


def concrete(shape: tuple[int, ...], batch: int, draw: st.DrawFn) -> list[int]:
    """A model shape with its dynamic (-1) dims drawn (the first is the batch), now and then one made wrong."""
    out = [(batch if i == 0 else draw(st.integers(0, 3))) if d < 0 else d for i, d in enumerate(shape)]
    if out and draw(st.integers(0, 5)) == 0:
        out[draw(st.integers(0, len(out) - 1))] = draw(dims)
    return out


def byte_count(shape: list[int], itemsize: int) -> int | None:
    count = math.prod(shape) * itemsize if all(d >= 0 for d in shape) else None
    return count if count is not None and count <= 4096 else None


def raw_buffer(draw: st.DrawFn, shape: list[int], itemsize: int, datatype: str) -> bytes:
    """Right-sized random bytes (length-prefixed elements for BYTES) most of the time, else any bytes."""
    size = byte_count(shape, itemsize)
    if size is None or draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=64))
    if datatype in ("BYTES", "DT_STRING"):
        elements = [draw(st.binary(max_size=8)) for _ in range(size)]
        return b"".join(len(e).to_bytes(4, "little") + e for e in elements)
    return draw(st.binary(min_size=size, max_size=size))


def typed_values(
    draw: st.DrawFn, wanted: str | None, fields: dict[str, st.SearchStrategy[Any]], shape: list[int]
) -> tuple[str, list[Any]]:
    """Values for a typed field: mostly the datatype's own field with one value per element."""
    field_name = wanted if wanted and draw(st.integers(0, 5)) else draw(st.sampled_from(list(fields)))
    count = byte_count(shape, 1)
    size = st.integers(0, 8) if count is None or draw(st.integers(0, 4)) == 0 else st.just(count)
    n = draw(size)
    return field_name, draw(st.lists(fields[field_name], min_size=n, max_size=n))


# ---- KServe ModelInferRequest ----

CONTENT_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "bool_contents": st.booleans(),
    "int_contents": st.integers(-(2**31), 2**31 - 1),
    "int64_contents": int64s,
    "uint_contents": st.integers(0, 2**32 - 1),
    "uint64_contents": st.integers(0, 2**64 - 1),
    "fp32_contents": st.floats(width=32),
    "fp64_contents": st.floats(),
    "bytes_contents": st.binary(max_size=16),
}
FIELD_OF_DATATYPE = {"BOOL": "bool_contents", "INT64": "int64_contents", "UINT64": "uint64_contents"}
FIELD_OF_DATATYPE |= {"FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}
FIELD_OF_DATATYPE |= {t: "int_contents" for t in ("INT8", "INT16", "INT32")}
FIELD_OF_DATATYPE |= {t: "uint_contents" for t in ("UINT8", "UINT16", "UINT32")}


def kserve_parameters(draw: st.DrawFn, target: Any) -> None:
    for key in draw(
        st.lists(
            st.one_of(
                names,
                st.sampled_from(
                    ["binary_data_size", "binary_data_output", "shared_memory_region", "classification"]
                ),
            ),
            max_size=3,
            unique=True,
        )
    ):
        kind = draw(
            st.sampled_from(
                ["bool_param", "int64_param", "string_param", "double_param", "uint64_param", None]
            )
        )
        param = target[key]
        if kind == "bool_param":
            param.bool_param = draw(st.booleans())
        elif kind == "int64_param":
            param.int64_param = draw(int64s)
        elif kind == "string_param":
            param.string_param = draw(names)
        elif kind == "double_param":
            param.double_param = draw(st.floats())
        elif kind == "uint64_param":
            param.uint64_param = draw(st.integers(0, 2**64 - 1))
        else:
            param.SetInParent()


@st.composite
def model_infer_requests(
    draw: st.DrawFn, served: dict[str, tuple[Input, ...]]
) -> service_pb2.ModelInferRequest:
    model = rarely(draw, odd_models, draw(st.sampled_from(list(served))))
    request = service_pb2.ModelInferRequest(
        model_name=model,
        model_version=rarely(draw, odd_versions, ""),
        id=draw(names),
    )
    kserve_parameters(draw, request.parameters)
    real = served.get(model, ())
    batch = draw(st.integers(0, 3))
    if real and draw(st.integers(0, 3)):
        tensors = [(i.name, i.datatype, concrete(i.shape, batch, draw)) for i in real]
        if draw(st.integers(0, 5)) == 0:
            tensors = draw(st.permutations(tensors))[: draw(st.integers(0, len(tensors)))]
    else:
        tensors = [
            (
                draw(st.one_of(names, st.sampled_from(["input", "a", "b", "text", "image"]))),
                draw(st.one_of(st.sampled_from(KSERVE_DATATYPES), names)),
                draw(shapes),
            )
            for _ in range(draw(st.integers(0, 3)))
        ]
    raw = draw(st.booleans())
    for name, datatype, shape in tensors:
        tensor = request.inputs.add(name=name, datatype=datatype, shape=shape)
        if draw(st.integers(0, 4)) == 0:
            kserve_parameters(draw, tensor.parameters)
        itemsize = KSERVE_ITEMSIZE.get(datatype, 1)
        if raw:
            request.raw_input_contents.append(raw_buffer(draw, shape, itemsize, datatype))
            continue
        field_name, values = typed_values(draw, FIELD_OF_DATATYPE.get(datatype), CONTENT_VALUES, shape)
        getattr(tensor.contents, field_name).extend(values)
    if raw and draw(st.integers(0, 6)) == 0:
        request.raw_input_contents.append(draw(st.binary(max_size=8)))  # one buffer too many
    for _ in range(rarely(draw, st.integers(1, 2), 0)):
        output = request.outputs.add(
            name=draw(st.one_of(names, st.sampled_from(["scaled", "total", "sum", "out"])))
        )
        if draw(st.booleans()):
            kserve_parameters(draw, output.parameters)
    return request


# ---- TFS PredictRequest ----

TF_VALUE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "half_val": st.integers(-(2**31), 2**31 - 1),
    "float_val": st.floats(width=32),
    "double_val": st.floats(),
    "int_val": st.integers(-(2**31), 2**31 - 1),
    "string_val": st.binary(max_size=16),
    "int64_val": int64s,
    "bool_val": st.booleans(),
    "uint32_val": st.integers(0, 2**32 - 1),
    "uint64_val": st.integers(0, 2**64 - 1),
    "scomplex_val": st.floats(width=32),
    "dcomplex_val": st.floats(),
}
TF_FIELD_OF = {
    "DT_FLOAT": "float_val",
    "DT_DOUBLE": "double_val",
    "DT_HALF": "half_val",
    "DT_INT64": "int64_val",
}
TF_FIELD_OF |= {t: "int_val" for t in ("DT_INT32", "DT_INT16", "DT_INT8", "DT_UINT16", "DT_UINT8")}
TF_FIELD_OF |= {
    "DT_UINT64": "uint64_val",
    "DT_UINT32": "uint32_val",
    "DT_BOOL": "bool_val",
    "DT_STRING": "string_val",
}
TF_TYPES = list(types_pb2.DataType.keys())


@st.composite
def predict_requests(draw: st.DrawFn, served: dict[str, tuple[Input, ...]]) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    if draw(st.integers(0, 10)):
        model = rarely(draw, odd_models, draw(st.sampled_from(list(served))))
        request.model_spec.name = model
        if draw(st.integers(0, 3)) == 0:
            request.model_spec.version.value = draw(st.one_of(st.sampled_from([0, 1, 2, 3, -1]), int64s))
        if draw(st.integers(0, 5)) == 0:
            request.model_spec.version_label = draw(names)
        request.model_spec.signature_name = draw(st.sampled_from(["", "serving_default", "other"]))
    else:
        model = ""
    real = served.get(model, ())
    batch = draw(st.integers(0, 3))
    if real and draw(st.integers(0, 3)):
        tensors = [
            (i.name, KSERVE_TO_TF.get(i.datatype, "DT_FLOAT"), concrete(i.shape, batch, draw)) for i in real
        ]
    else:
        tensors = [
            (
                draw(st.one_of(names, st.sampled_from(["input", "a", "b", "text", "image"]))),
                draw(st.sampled_from(TF_TYPES)),
                draw(shapes),
            )
            for _ in range(draw(st.integers(0, 3)))
        ]
    for name, tf_type, shape in tensors:
        tensor = request.inputs[name]
        tensor.dtype = types_pb2.DataType.Value(tf_type)
        for size in shape:
            tensor.tensor_shape.dim.add(size=size)
        if draw(st.integers(0, 20)) == 0:
            tensor.tensor_shape.unknown_rank = True
        packed = tf_type != "DT_STRING" and draw(st.booleans())
        if packed:
            tensor.tensor_content = raw_buffer(draw, shape, TF_ITEMSIZE.get(tf_type, 1), tf_type)
        if not packed or draw(st.integers(0, 7)) == 0:
            field_name, values = typed_values(draw, TF_FIELD_OF.get(tf_type), TF_VALUE_FIELDS, shape)
            getattr(tensor, field_name).extend(values)
    request.output_filter.extend(
        rarely(draw, st.lists(st.one_of(names, st.sampled_from(["scaled", "sum"])), max_size=2), [])
    )
    return request


# ---- the runs ----


def call(report: FuzzReport, server: ServerProcess, method: Any, request: Any) -> None:
    report.requests += 1
    try:
        method(request, timeout=CALL_TIMEOUT)
        code = grpc.StatusCode.OK
        details = ""
    except grpc.RpcError as error:
        code, details = error.code(), error.details()
    report.statuses[code.name] += 1
    if details:
        report.messages[f"{code.name}: {details.split(' - ')[0][:80]}"] += 1
    alive = server.process.poll() is None
    if code in SERVER_FAULTS or not alive:
        report.faults.append(f"{code.name}: {details} (server alive: {alive}) for {request!s:.1500}")


@pytest.mark.parametrize("api", list(REPORTS))
def test_fuzz(
    api: str,
    server: ServerProcess,
    kserve_stub: service_pb2_grpc.GRPCInferenceServiceStub,
    tfs_stub: prediction_service_pb2_grpc.PredictionServiceStub,
    served: dict[str, tuple[Input, ...]],
) -> None:
    report = REPORTS[api]
    method, requests = {
        "KServe ModelInfer": (kserve_stub.ModelInfer, model_infer_requests(served)),
        "TFS Predict": (tfs_stub.Predict, predict_requests(served)),
    }[api]

    @FUZZ_SETTINGS
    @given(requests)
    def fuzz(request: Any) -> None:
        call(report, server, method, request)

    fuzz()
    assert report.requests >= EXAMPLES
    assert report.faults == []


def test_after_the_fuzz_every_model_still_answers(
    server: ServerProcess,
    kserve_stub: service_pb2_grpc.GRPCInferenceServiceStub,
    tfs_stub: prediction_service_pb2_grpc.PredictionServiceStub,
) -> None:
    """More valid requests than any model has infer requests: a leaked one would make these hang."""
    assert server.process.poll() is None, server.log_text()
    data = np.array([[1, 2, 3, 4]], np.float32)
    for _ in range(8):
        request = service_pb2.ModelInferRequest(model_name="affine")
        request.inputs.add(name="input", datatype="FP32", shape=[1, 4])
        request.raw_input_contents.append(data.tobytes())
        answer = kserve_stub.ModelInfer(request, timeout=CALL_TIMEOUT)
        scaled = np.frombuffer(answer.raw_output_contents[0], np.float32)
        assert scaled.tolist() == [3.0, 5.0, 7.0, 9.0]
        image = np.ones((1, 3, 2, 2), np.float32)
        fixed = predict_pb2.PredictRequest()
        fixed.model_spec.name = "fixed"
        fixed.inputs["input"].CopyFrom(
            tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=image.tobytes())
        )
        for size in image.shape:
            fixed.inputs["input"].tensor_shape.dim.add(size=size)
        out = tfs_stub.Predict(fixed, timeout=CALL_TIMEOUT).outputs["out"]
        assert np.frombuffer(out.tensor_content, np.float32).tolist() == [1.0] * 12
        add_mul = service_pb2.ModelInferRequest(model_name="add_mul")
        for name in ("a", "b"):
            add_mul.inputs.add(name=name, datatype="INT32", shape=[1, 3]).contents.int_contents.extend(
                [1, 2, 3]
            )
        outputs = kserve_stub.ModelInfer(add_mul, timeout=CALL_TIMEOUT)
        answered = {
            o.name: np.frombuffer(raw, np.int32).tolist()
            for o, raw in zip(outputs.outputs, outputs.raw_output_contents, strict=True)
        }
        assert answered == {"sum": [2, 4, 6], "product": [1, 4, 9]}
        echo = service_pb2.ModelInferRequest(model_name="echo")
        echo.inputs.add(name="text", datatype="BYTES", shape=[1]).contents.bytes_contents.append(
            b"still here"
        )
        said = kserve_stub.ModelInfer(echo, timeout=CALL_TIMEOUT).raw_output_contents[0]
        assert said == b"\x0a\x00\x00\x00still here"
