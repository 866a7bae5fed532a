"""Generate the Python stubs in ovms_cli/_proto/ from the .proto files in protos/.

Run after editing anything in protos/:  python scripts/gen_protos.py
The output is committed; `python scripts/gen_protos.py --check` (in scripts/test) fails when it is
stale, and tests/test_generated.py when pyproject's floors allow a protobuf or grpcio it rejects.

The generator is pinned (grpcio-tools, in pyproject's test extra): its bundled protoc decides the
protobuf gencode version the stubs demand of the runtime, and its version is the grpcio the gRPC
stubs demand. grpcio-tools 1.80.1 is the newest whose protoc writes gencode 6.31.1, the oldest
we support: protobuf runtimes 6.31.1+ and 7.x load it (7.x without a warning), so `ovms` installs
beside tritonclient, which pins protobuf<7. See [project.dependencies] for the matching floors.
"""

from __future__ import annotations

import re
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "ovms_cli" / "_proto"


def pinned_generator() -> str:
    """The grpcio-tools version pyproject's test extra pins (``grpcio-tools==X``)."""
    found = re.search(r'"grpcio-tools==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    if found is None:
        raise SystemExit("pyproject.toml pins no grpcio-tools==X; the stubs' versions depend on it")
    return found.group(1)


def _require_pinned_generator() -> None:
    pinned, installed = pinned_generator(), version("grpcio-tools")
    if installed != pinned:
        raise SystemExit(
            f"grpcio-tools {installed} is installed, the stubs are made with {pinned}: "
            f'pip install "grpcio-tools=={pinned}" (or pip install -e ".[test]")'
        )


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
    _make_packages(out)


def _make_imports_relative(out: Path, modules: list[str]) -> None:
    """protoc writes `import x_pb2` and `from a.b import x_pb2`; inside a package they must be relative."""
    names = [m.replace("/", ".") + "_pb2" for m in modules]
    for path in out.rglob("*.py*"):
        up = "." * len(path.relative_to(out).parts)  # from this module's package up to out/
        text = path.read_text()
        for name in names:
            dotted, _, leaf = name.rpartition(".")
            absolute = rf"^import {re.escape(name)} as (\w+)$"
            if dotted:
                absolute = rf"^from {re.escape(dotted)} import {re.escape(leaf)} as (\w+)$"
            target = f"{up}{dotted}" if dotted else up
            text = re.sub(absolute, rf"from {target} import {leaf} as \1", text, flags=re.M)
        path.write_text(text)


def _make_packages(out: Path) -> None:
    for folder in out.rglob("*"):
        if folder.is_dir() and not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text("")


def _use_private_pool(out: Path) -> None:
    """Register our descriptors in ovms_cli._proto._pool, not protobuf's default pool.

    Well-known types our files import (any.proto, wrappers.proto) are added to that pool first:
    a pool resolves a file's dependencies only among the files it holds.
    """
    for path in out.rglob("*_pb2.py"):
        depth = len(path.relative_to(out).parts) - 1
        text = path.read_text().replace(
            "_descriptor_pool.Default().AddSerializedFile(", "_pool.POOL.AddSerializedFile("
        )
        well_known = re.findall(r"^from google\.protobuf import \w+_pb2 as (\w+)$", text, flags=re.M)
        registrations = "".join(
            f"_pool.POOL.AddSerializedFile({alias}.DESCRIPTOR.serialized_pb)\n" for alias in well_known
        )
        text = text.replace(
            "# @@protoc_insertion_point(imports)",
            f"from .{'.' * depth} import _pool\n# @@protoc_insertion_point(imports)",
            1,
        )
        text = text.replace("DESCRIPTOR = _pool.POOL", f"{registrations}DESCRIPTOR = _pool.POOL", 1)
        path.write_text(text)


def main() -> None:
    _require_pinned_generator()
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
