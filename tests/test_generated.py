"""The checked-in stubs (ovms_cli/_proto) demand no more than pyproject's dependency floors allow.

Each *_pb2.py checks at import that the protobuf runtime is at least its gencode version, and each
*_pb2_grpc.py that grpcio is at least GRPC_GENERATED_VERSION; a floor below either would let pip
install a combination that dies on import. scripts/gen_protos.py --check keeps the stubs fresh.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "ovms_cli" / "_proto"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _stamped(path: Path, pattern: str) -> tuple[int, ...]:
    """The version the generator stamped in ``path`` (``pattern``'s group 1)."""
    found = re.search(pattern, path.read_text(), re.M)
    assert found is not None, f"{path}: no {pattern}"
    return _version(found.group(1))


def _floor(package: str) -> tuple[int, ...]:
    """The lowest version [project.dependencies] allows for ``package``."""
    dependencies = (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[0]
    found = re.search(rf'"{re.escape(package)}>=([0-9.]+)', dependencies)
    assert found is not None, f"{package} has no floor in [project.dependencies]"
    return _version(found.group(1))


def test_the_protobuf_floor_loads_every_stub() -> None:
    gencodes = {_stamped(path, r"^# Protobuf Python Version: ([0-9.]+)$") for path in PROTO.rglob("*_pb2.py")}
    assert len(gencodes) == 1
    (gencode,) = gencodes
    assert gencode[0] == _floor("protobuf")[0]  # the floor's major runs this gencode as its own
    assert gencode <= _floor("protobuf")


def test_the_grpcio_floor_loads_every_grpc_stub() -> None:
    generated = {
        _stamped(path, r"^GRPC_GENERATED_VERSION = '([0-9.]+)'$") for path in PROTO.rglob("*_pb2_grpc.py")
    }
    assert max(generated) <= _floor("grpcio")
