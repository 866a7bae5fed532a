import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from ovms_cli.cli.validate_config import validate_config_command

WriteConfig = Callable[[Any], Path]
ModelDir = Callable[..., Path]


def run(path: Path) -> tuple[int, str, str]:
    """Exit code, plain text and ANSI-coloured text of the command's output."""
    colored = io.StringIO()
    console = Console(file=colored, record=True, width=200, force_terminal=True, color_system="standard")
    code = validate_config_command(path, console)
    return code, console.export_text(), colored.getvalue()


def test_problems_printed_in_red(write_config: WriteConfig) -> None:
    path = write_config({"model_config_list": [{"config": {"name": "m", "base_path": 3, "nireq": -1}}]})
    code, text, colored = run(path)
    assert code == 1
    assert text.splitlines() == [
        f"{path}: 2 problem(s)",
        "model_config_list[0].config.base_path: expected string",
        "model_config_list[0].config.nireq: must be >= 0",
    ]
    assert "\x1b[31mmodel_config_list[0].config.nireq: must be >= 0" in colored


def test_problem_text_is_not_read_as_markup(write_config: WriteConfig) -> None:
    code, text, _ = run(
        write_config(
            {"model_config_list": [{"config": {"name": "m", "base_path": "/m", "layout": {"[bold]": "Z"}}}]}
        )
    )
    assert code == 1
    assert 'model_config_list[0].config.layout["[bold]"]: expected letters' in text


def test_not_json(write_config: WriteConfig) -> None:
    code, text, _ = run(write_config("{"))
    assert code == 1
    assert (
        "$: not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2 (char 1)"
        in text
    )


def test_valid_config_prints_a_table(tmp_path: Path, write_config: WriteConfig, model_dir: ModelDir) -> None:
    model_dir("resnet", "1", "2", "3")
    model_dir("[dyn]", "1", "5")
    doc = {
        "model_config_list": [
            {"config": {"name": "resnet", "base_path": "resnet", "nireq": 4, "batch_size": "1:8"}},
            {
                "config": {
                    "name": "dyn",
                    "base_path": "[dyn]",
                    "shape": {"in": "(1,3,-1,200:300)", "aux": "auto"},
                    "model_version_policy": {"specific": {"versions": [1, 2]}},
                    "target_device": "GPU",
                }
            },
            {
                "config": {
                    "name": "single",
                    "base_path": "resnet",
                    "shape": "(1,2)",
                    "model_version_policy": {"all": {}},
                }
            },
            {"config": {"name": "plain", "base_path": "resnet"}},
            {"config": {"name": "remote", "base_path": "s3://bucket/m", "batch_size": "auto"}},
        ]
    }
    code, text, colored = run(write_config(doc))
    assert code == 0
    rows = [
        [cell.strip() for cell in re.split("[│┃]", line)[1:-1]]
        for line in text.splitlines()
        if line.startswith(("│", "┃"))
    ]
    assert rows == [
        ["name", "base_path", "versions", "policy", "device", "nireq", "shape/batch"],
        ["resnet", str(tmp_path / "resnet"), "1, 2, 3", "latest: 1", "CPU", "4", "batch 1:8"],
        [
            "dyn",
            str(tmp_path / "[dyn]"),
            "1, 5",
            "specific: 1, 2",
            "GPU",
            "auto",
            "in=(1,3,-1,200:300) aux=auto",
        ],
        ["single", str(tmp_path / "resnet"), "1, 2, 3", "all", "CPU", "auto", "(1,2)"],
        ["plain", str(tmp_path / "resnet"), "1, 2, 3", "latest: 1", "CPU", "auto", "model's own"],
        ["remote", "s3://bucket/m", "remote, not listed", "latest: 1", "CPU", "auto", "batch auto"],
    ]
    assert text.splitlines()[-1] == f"{tmp_path / 'config.json'}: valid, 5 models"
    assert "\x1b[1;32m3\x1b[0m" in colored  # the version latest:1 serves is highlighted


def test_single_model_summary(write_config: WriteConfig, model_dir: ModelDir) -> None:
    model_dir("m", "1")
    path = write_config({"model_config_list": [{"config": {"name": "m", "base_path": "m"}}]})
    _, text, _ = run(path)
    assert text.splitlines()[-1] == f"{path}: valid, 1 model"


def test_generative_entries_problems_are_reported(tmp_path: Path, write_config: WriteConfig) -> None:
    llm = tmp_path / "llm"
    llm.mkdir()
    (llm / "graph.pbtxt").write_text(
        'node { calculator: "HttpLLMCalculator" node_options: { '
        '[type.googleapis.com/mediapipe.LLMCalculatorOptions]: { models_path: "./" max_num_seqs: -3 } } }'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "graph.pbtxt").write_text(
        'node { calculator: "EmbeddingsCalculatorOV" node_options: { '
        '[type.googleapis.com/mediapipe.EmbeddingsCalculatorOVOptions]: { models_path: "./gone" } } }'
    )
    path = write_config(
        {
            "model_config_list": [],
            "mediapipe_config_list": [
                {"name": "llm", "base_path": "llm"},
                {"name": "missing", "base_path": "nowhere"},
                {"name": "embeddings", "base_path": "elsewhere"},
            ],
        }
    )
    code, text, _ = run(path)
    assert code == 1
    lines = text.splitlines()
    assert lines[0] == f"{path}: 3 problem(s)"
    assert lines[1].startswith("mediapipe_config_list[0]: ")
    assert "max_num_seqs must be an unsigned integer, not -3" in lines[1]
    assert lines[2].startswith("mediapipe_config_list[1]: cannot read ")
    assert lines[3].startswith("mediapipe_config_list[2]: ")
    assert "models_path" in lines[3] and "gone is not a folder" in lines[3]
