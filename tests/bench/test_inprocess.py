"""The in-process reference runs the served model's file with both hints."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import affine_model, write_ir

from ovms_cli.bench.errors import BenchError
from ovms_cli.bench.inprocess import locate_model, run_inprocess
from ovms_cli.bench.inputs import ModelInfo, TensorInfo, make_inputs


def test_both_hints_give_a_positive_throughput(tmp_path: Path) -> None:
    base = write_ir(affine_model(), tmp_path / "affine")
    info = ModelInfo("affine", (TensorInfo("input", "FP32", (-1, 4)),), ())
    result = run_inprocess(base, make_inputs(info), concurrency=3, warmup_s=0.1, duration_s=0.4)
    assert [run.hint for run in result.runs] == ["THROUGHPUT", "LATENCY"]
    for run in result.runs:
        assert run.nireq >= 1
        assert run.measurement.count > 0
        assert run.measurement.throughput > 0
    assert result.best.measurement.throughput == max(r.measurement.throughput for r in result.runs)


def test_locate_model_takes_a_file_a_base_path_or_a_version(tmp_path: Path) -> None:
    base = write_ir(affine_model(), tmp_path / "affine", 1)
    write_ir(affine_model(), base, 3)
    assert locate_model(base) == base / "3" / "model.xml"
    assert locate_model(base, "1") == base / "1" / "model.xml"
    assert locate_model(base / "1" / "model.xml") == base / "1" / "model.xml"
    with pytest.raises(BenchError, match="version 2"):
        locate_model(base, "2")
