"""Print the versions of the packages the client/server compatibility depends on, for CI logs.

Usage: python scripts/versions.py LABEL
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

PACKAGES = ("ovms", "protobuf", "grpcio", "tritonclient", "ovmsclient", "openvino")


def installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


if __name__ == "__main__":
    label = sys.argv[1] if len(sys.argv) > 1 else "environment"
    print(f"{label}: " + " ".join(f"{name}={installed(name)}" for name in PACKAGES), flush=True)
