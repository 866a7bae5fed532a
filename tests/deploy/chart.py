"""The Helm chart deploy/helm/ovms rendered by Helm's own engine (helm-python-sdk), as documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "ovms"


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The documents `helm template ovms deploy/helm/ovms` gives with VALUES; HelmError when refused."""
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name="ovms", namespace="default", is_install=True)
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]
