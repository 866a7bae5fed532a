"""The demo's tiny generative models, built once per test session, and in-process references."""

from __future__ import annotations

from pathlib import Path

import openvino_genai as genai

from ovms_cli.servables.generative.demo import DEMO_NAMES, write_generative_demo
from ovms_cli.servables.generative.graph_config import Task

LLM, EMBEDDINGS, RERANK = (DEMO_NAMES[t] for t in Task)
LONG_STREAM = {
    "model": LLM,
    "prompt": "The quick brown fox",
    "max_tokens": 500,
    "temperature": 0,
    "stream": True,
    "ignore_eos": True,
}
"""A greedy stream long enough to be interrupted (random weights rarely say EOS; ignore_eos anyway)."""


def build_all(root: Path) -> Path:
    """The three demo models under ``root`` and one config.json serving them all; return its path."""
    import json

    entries = []
    for task in Task:
        folder = root / task.value
        write_generative_demo(folder, task)
        name = DEMO_NAMES[task]
        (root / name).symlink_to(folder / name)
        entries.append({"name": name, "base_path": name})
    config = root / "config.json"
    config.write_text(json.dumps({"model_config_list": [], "mediapipe_config_list": entries}))
    return config


def greedy(max_new_tokens: int, ignore_eos: bool = True) -> genai.GenerationConfig:
    config = genai.GenerationConfig()
    config.max_new_tokens = max_new_tokens
    config.do_sample = False
    config.ignore_eos = ignore_eos
    config.apply_chat_template = False
    return config


def scheduler(cache_size: int = 0, max_num_seqs: int = 64) -> genai.SchedulerConfig:
    """The demo graph's settings (graph_text for ovms demo) by default."""
    settings = genai.SchedulerConfig()
    settings.cache_size = cache_size
    settings.max_num_seqs = max_num_seqs
    settings.max_num_batched_tokens = 256
    settings.dynamic_split_fuse = True
    return settings
