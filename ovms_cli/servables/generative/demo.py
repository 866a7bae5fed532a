"""``ovms demo --task ...``: a tiny random-weight model of a task, its ``graph.pbtxt`` and a config.json.

Everything is built locally (``tiny_models``), nothing is downloaded. The folder is what OVMS reads:
``DIR/<name>/`` holds the model files and OVMS's ``graph.pbtxt``, and ``DIR/config.json`` lists it
under ``mediapipe_config_list``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ovms_cli.servables.generative.graph_config import GenerativeConfig, Task, graph_text

DEMO_NAMES = {
    Task.TEXT_GENERATION: "tiny-llm",
    Task.EMBEDDINGS: "tiny-embeddings",
    Task.RERANK: "tiny-rerank",
}


def write_generative_demo(root: Path, task: Task) -> Path:
    """Build the demo model of ``task`` under ``root``; return the config.json path."""
    from ovms_cli.servables.generative import tiny_models

    name = DEMO_NAMES[task]
    folder = root / name
    shutil.rmtree(folder, ignore_errors=True)
    if task is Task.TEXT_GENERATION:
        tiny_models.build_text_generation(folder)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            text_model = Path(scratch) / "llm"
            tiny_models.build_text_generation(text_model)
            if task is Task.EMBEDDINGS:
                tiny_models.build_embeddings(folder, text_model)
            else:
                tiny_models.build_rerank(folder, text_model)
    settings = GenerativeConfig(name=name, task=task, models_path=folder, cache_size=0, max_num_seqs=64)
    (folder / "graph.pbtxt").write_text(graph_text(settings))
    config = root / "config.json"
    document = {"model_config_list": [], "mediapipe_config_list": [{"name": name, "base_path": name}]}
    config.write_text(json.dumps(document, indent=2) + "\n")
    return config
