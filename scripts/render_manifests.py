"""Render the Helm chart deploy/helm/ovms into the plain manifests under deploy/kubernetes/.

One manifest file per value set deploy/helm/ovms/ci/NAME-values.yaml: deploy/kubernetes/NAME.yaml,
as `helm template ovms deploy/helm/ovms -f deploy/helm/ovms/ci/NAME-values.yaml` writes it. The
renderer is Helm's own Go engine (helm-python-sdk binds Helm's SDK; no helm binary is on PyPI).

Run after editing the chart:  python scripts/render_manifests.py
With --check it writes nothing and exits 1 when a committed manifest differs (scripts/test runs it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "ovms"
OUT = ROOT / "deploy" / "kubernetes"
RELEASE = "ovms"
NAMESPACE = "default"


def value_sets() -> dict[str, dict[str, Any]]:
    """NAME -> values, from the chart's ci/NAME-values.yaml files."""
    return {
        path.name.removesuffix("-values.yaml"): yaml.safe_load(path.read_text())
        for path in sorted((CHART / "ci").glob("*-values.yaml"))
    }


def render(values: dict[str, Any]) -> dict[str, str]:
    """Template path -> rendered text, as Helm renders an install of RELEASE into NAMESPACE."""
    with helm.Chart.load(CHART) as chart:
        return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def manifest(name: str, rendered: dict[str, str]) -> str:
    """One multi-document file in `helm template`'s shape: a Source comment per template."""
    header = (
        f"# Rendered from deploy/helm/ovms with ci/{name}-values.yaml by scripts/render_manifests.py.\n"
        "# Do not edit: change the chart or the values and render again.\n"
    )
    documents = [
        f"---\n# Source: {path}\n{text.strip()}\n"
        for path, text in sorted(rendered.items())
        if text.strip() and not path.endswith("NOTES.txt")
    ]
    return header + "".join(documents)


def expected() -> dict[Path, str]:
    return {OUT / f"{name}.yaml": manifest(name, render(values)) for name, values in value_sets().items()}


def main(argv: list[str]) -> int:
    files = expected()
    if "--check" in argv:
        stale = [path for path, text in files.items() if not path.exists() or path.read_text() != text]
        extra = sorted(set(OUT.glob("*.yaml")) - set(files))
        for path in [*stale, *extra]:
            print(
                f"{path.relative_to(ROOT)} is stale: run python scripts/render_manifests.py", file=sys.stderr
            )
        return 1 if stale or extra else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
