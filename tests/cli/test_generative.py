"""The generative command line: serve's --source_model/--task flags, demo --task, and the classic
server staying free of OpenVINO GenAI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ovms_cli.cli.generative import GenerativeUsageError, generative_from_cli
from ovms_cli.servables.generative.graph_config import Task, read_graph

EX_USAGE = 64
NO_OPTIONS: dict[str, str | int | None] = {}


def _ovms(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ovms_cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model_name", "m", "--model_path", ".", "--pooling", "CLS"], "need --task or --source_model"),
        (["--source_model", "/no/such/folder", "--task", "text_generation"], "is not a local folder"),
        (
            ["--source_model", ".", "--task", "chat"],
            "--task must be one of text_generation, embeddings, rerank",
        ),
        (
            ["--source_model", ".", "--task", "rerank", "--cache_size", "1"],
            "--cache_size does not apply to --task rerank",
        ),
        (
            ["--source_model", ".", "--task", "embeddings", "--normalize", "yes"],
            "--normalize takes true or false",
        ),
        (
            ["--source_model", ".", "--task", "embeddings", "--pooling", "MAX"],
            "pooling must be one of CLS, MEAN, LAST",
        ),
        (["--source_model", "."], "--task is required"),
        (
            ["--source_model", ".", "--task", "rerank", "--model_name", "a/b"],
            '--model_name: must not contain "/"',
        ),
        (["--source_model", ".", "--task", "rerank", "--model_name", ".."], '--model_name: must not be ".."'),
    ],
)
def test_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    done = _ovms(*args, "--rest_port", "0", cwd=tmp_path)
    assert done.returncode == EX_USAGE, done.stderr
    assert message in done.stderr


def test_flags_map_to_graph_options(tmp_path: Path) -> None:
    options: dict[str, str | int | None] = {
        "cache_size": 2,
        "max_num_seqs": 8,
        "max_num_batched_tokens": 512,
        "enable_prefix_caching": "true",
        "dynamic_split_fuse": "false",
        "max_tokens_limit": None,
    }
    config = generative_from_cli(None, str(tmp_path), "text_generation", "CPU", '{"NUM_STREAMS": 1}', options)
    assert (config.name, config.task, config.models_path) == (
        tmp_path.name,
        Task.TEXT_GENERATION,
        tmp_path.resolve(),
    )
    assert (config.cache_size, config.max_num_seqs, config.max_num_batched_tokens) == (2, 8, 512)
    assert (config.enable_prefix_caching, config.dynamic_split_fuse) == (True, False)
    assert config.plugin_properties == {"NUM_STREAMS": 1}
    embeddings = generative_from_cli(
        "e", str(tmp_path), "embeddings", None, None, {"pooling": "LAST", "normalize": "false"}
    )
    assert (embeddings.pooling, embeddings.normalize_embeddings) == ("LAST", False)


def test_a_folder_with_a_graph_needs_no_task(tmp_path: Path) -> None:
    done = _ovms("demo", "--task", "rerank", "--dest", str(tmp_path), "--no-serve")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "config.json")
    folder = tmp_path / "tiny-rerank"
    assert read_graph("r", folder / "graph.pbtxt").task is Task.RERANK
    assert generative_from_cli(None, str(folder), None, None, None, NO_OPTIONS).task is Task.RERANK
    with pytest.raises(GenerativeUsageError, match=r"cannot be used with a graph\.pbtxt"):
        generative_from_cli(None, str(folder), None, None, None, {"pooling": "CLS"})


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--task", "bogus"],
            EX_USAGE,
            "--task must be one of text_generation, embeddings, rerank, not 'bogus'",
        ),
        (["--dest", "/proc/nope"], 1, "cannot write the demo into /proc/nope: "),
        (["--dest", "/proc/nope", "--task", "rerank"], 1, "cannot write the demo into /proc/nope: "),
        (["--dest", "a-file"], 1, "cannot write the demo into a-file: "),
        (["--dest", "a-file", "--task", "embeddings"], 1, "cannot write the demo into a-file: "),
    ],
)
def test_demo_mistakes_are_one_line(args: list[str], code: int, message: str, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    done = _ovms("demo", *args, "--no-serve", cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr


def test_the_classic_server_does_not_import_openvino_genai() -> None:
    probe = (
        "import sys\n"
        "from ovms_cli.transports import server, rest_openai\n"
        "from ovms_cli.servables.generative import metrics, host\n"
        "from ovms_cli.cli import app\n"
        "assert 'openvino_genai' not in sys.modules, 'openvino_genai was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
