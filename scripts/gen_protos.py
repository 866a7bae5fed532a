"""Generate the Python stubs in ovms_cli/_proto/ from the .proto files in protos/.

Run after editing anything in protos/:  python scripts/gen_protos.py
The output is committed; tests/test_generated.py fails when it is stale.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "ovms_cli" / "_proto"


def generate(out: Path) -> None:
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    _make_imports_relative(out, [Path(s).with_suffix("").as_posix() for s in sources])
    _use_private_pool(out)


def _make_imports_relative(out: Path, modules: list[str]) -> None:
    """protoc writes `import x_pb2`; inside a package it must be `from . import x_pb2`."""
    names = [m.replace("/", ".") + "_pb2" for m in modules]
    for path in out.rglob("*.py*"):
        text = path.read_text()
        for name in names:
            dotted, _, leaf = name.rpartition(".")
            pattern = rf"^import {re.escape(name)} as (\w+)$"
            prefix = "." + ("." + dotted if dotted else "")
            text = re.sub(pattern, rf"from {prefix} import {leaf} as \1", text, flags=re.M)
        path.write_text(text)


def _use_private_pool(out: Path) -> None:
    """Register our descriptors in ovms_cli._proto._pool, not protobuf's default pool."""
    for path in out.rglob("*_pb2.py"):
        depth = len(path.relative_to(out).parts) - 1
        text = path.read_text().replace(
            "_descriptor_pool.Default().AddSerializedFile(", "_pool.POOL.AddSerializedFile("
        )
        text = text.replace(
            "# @@protoc_insertion_point(imports)",
            f"from .{'.' * depth} import _pool\n# @@protoc_insertion_point(imports)",
            1,
        )
        path.write_text(text)


def main() -> None:
    if "--check" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            stale = [
                p.name
                for p in Path(tmp).rglob("*_pb2*")
                if p.is_file()
                if not (OUT / p.relative_to(tmp)).exists()
                or (OUT / p.relative_to(tmp)).read_text() != p.read_text()
            ]
        if stale:
            raise SystemExit(f"stale generated stubs: {stale}; run python scripts/gen_protos.py")
        return
    generate(OUT)


if __name__ == "__main__":
    main()
