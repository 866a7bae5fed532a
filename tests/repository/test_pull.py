"""``ovms pull-model`` against real object-store servers: as a subprocess, and in-process for the rest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from builders import affine_model, write_ir
from storage_servers import StorageServer, clean_environ, upload_tree, uri
from typer.testing import CliRunner

from ovms_cli.cli import app

EX_USAGE = 64


def pull(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ovms_cli", "pull-model", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environ(env),
        check=False,
    )


def pull_here(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The same command in this process (a subprocess costs seconds of imports)."""
    result = CliRunner().invoke(app, ["pull-model", *args], env=clean_environ(env))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def remote_model(store_server: StorageServer, bucket: str, tmp_path: Path) -> tuple[str, Path]:
    """Versions 1 and 2 of a model uploaded as ``<bucket>/models/affine``; and the local original."""
    local = tmp_path / "original"
    write_ir(affine_model(), local, 1)
    write_ir(affine_model(), local, 2)
    upload_tree(store_server, local, bucket, "models/affine")
    return uri(store_server, bucket, "models/affine"), local


def test_pulls_the_latest_version_then_resumes(
    store_server: StorageServer, remote_model: tuple[str, Path], tmp_path: Path
) -> None:
    text, original = remote_model
    dest = tmp_path / "pulled"
    first = pull(store_server.env, text, "--dest", str(dest))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == str(dest)
    assert sorted(p.name for p in dest.iterdir() if not p.name.startswith(".")) == ["2"]
    assert (dest / "2" / "model.bin").read_bytes() == (original / "2" / "model.bin").read_bytes()
    inode = (dest / "2" / "model.bin").stat().st_ino

    again = pull_here(store_server.env, text, "--dest", str(dest))
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stderr
    assert (dest / "2" / "model.bin").stat().st_ino == inode  # not downloaded again


def test_pulls_every_version_or_one(
    store_server: StorageServer, remote_model: tuple[str, Path], tmp_path: Path
) -> None:
    text, _ = remote_model
    every = pull_here(store_server.env, text, "--dest", str(tmp_path / "all"), "--all-versions")
    assert every.returncode == 0, every.stderr
    assert sorted(p.name for p in (tmp_path / "all").iterdir() if not p.name.startswith(".")) == ["1", "2"]
    one = pull_here(store_server.env, text, "--dest", str(tmp_path / "one"), "--version", "1")
    assert one.returncode == 0, one.stderr
    assert sorted(p.name for p in (tmp_path / "one" / "1").iterdir()) == ["model.bin", "model.xml"]


def test_a_missing_version_fails_with_the_uri(
    store_server: StorageServer, remote_model: tuple[str, Path]
) -> None:
    text, _ = remote_model
    result = pull_here(store_server.env, text, "--version", "7", "--dest", "unused")
    assert result.returncode == 1
    assert f"File or directory not found: {text}/7 - versions present: 1, 2" in result.stderr


def test_refused_credentials_fail_with_the_variable(
    store_server: StorageServer, remote_model: tuple[str, Path], tmp_path: Path
) -> None:
    text, _ = remote_model
    result = pull_here(store_server.bad_env, text, "--dest", str(tmp_path / "x"))
    assert result.returncode == 1
    variable = {
        "s3": "AWS_ACCESS_KEY_ID",
        "gs": "GOOGLE_APPLICATION_CREDENTIALS",
        "az": "AZURE_STORAGE_CONNECTION_STRING",
    }
    assert f"Invalid access rights: {text}" in result.stderr
    assert variable[store_server.scheme] in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_missing_bucket_fails_with_the_uri(store_server: StorageServer, tmp_path: Path) -> None:
    text = uri(store_server, "nobucket0", "m")
    result = pull_here(store_server.env, text, "--dest", str(tmp_path / "x"))
    assert result.returncode == 1
    assert "not found: " + text in result.stderr


def test_version_and_all_versions_exclude_each_other() -> None:
    result = pull({}, "s3://b/m", "--version", "1", "--all-versions")
    assert result.returncode == EX_USAGE
    assert "exclude each other" in result.stderr
