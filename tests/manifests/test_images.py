"""Static checks of images/{cpu,gpu}/Dockerfile (no Docker engine needed).

Each Dockerfile is parsed into instructions the way Docker reads it (comments dropped, ``\\``
continuations joined) and checked for: a pinned base image, a non-root USER after the last RUN,
no secret-looking ENV/ARG values, torch pins equal to pyproject.toml, and a default CMD that imports
alseg and components, which is then run with this interpreter to show that it works.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = {
    "cpu": ROOT / "images" / "cpu" / "Dockerfile",
    "gpu": ROOT / "images" / "gpu" / "Dockerfile",
}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|ACCESS_KEY|API_KEY|CREDENTIAL", re.I)
ROOT_USERS = {"root", "0"}

Instruction = tuple[str, str]  # (KEYWORD, arguments)


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions of a Dockerfile: comments dropped, ``\\`` + newline joined as Docker does."""
    instructions: list[Instruction] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not pending and not stripped):
            continue  # Docker drops comment lines, also inside a continued instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1]
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, args = text.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    if pending:
        raise ValueError(f"{path}: the last instruction ends with a line continuation")
    return instructions


def args_of(instructions: list[Instruction], keyword: str) -> list[str]:
    return [args for kw, args in instructions if kw == keyword]


def arg_defaults(instructions: list[Instruction]) -> dict[str, str | None]:
    """``ARG NAME[=default]`` -> {NAME: default or None}."""
    defaults: dict[str, str | None] = {}
    for args in args_of(instructions, "ARG"):
        name, sep, value = args.partition("=")
        defaults[name.strip()] = shlex.split(value)[0] if sep and value.strip() else None
    return defaults


def env_pairs(args: str) -> dict[str, str]:
    """``ENV A=1 B="x y"`` or legacy ``ENV A 1`` -> {"A": "1", ...}."""
    tokens = shlex.split(args)
    if tokens and "=" not in tokens[0]:
        return {tokens[0]: " ".join(tokens[1:])}
    return dict(token.split("=", 1) for token in tokens)


def pyproject_pins() -> dict[str, str]:
    """``name==version`` dependencies of pyproject.toml -> {name: version}."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(dep.replace(" ", "").split("==", 1) for dep in deps if "==" in dep)


def python_c_snippets(run_args: str) -> list[str]:
    """The code of every ``python -c CODE`` in a RUN command."""
    tokens = shlex.split(run_args)
    return [
        tokens[i + 2]
        for i in range(len(tokens) - 2)
        if Path(tokens[i]).name.startswith("python") and tokens[i + 1] == "-c"
    ]


def imported_modules(code: str) -> set[str]:
    """Top-level module names imported by ``code``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@cache
def run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``python -c code`` with this interpreter (the venv) outside the repository root, so that
    the imports resolve through the installed package, as in the image."""
    outside = Path(os.environ.get("TMPDIR", "/tmp"))
    return subprocess.run(
        [sys.executable, "-c", code], cwd=outside, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(params=sorted(DOCKERFILES), scope="module")
def dockerfile(request: pytest.FixtureRequest) -> tuple[str, list[Instruction]]:
    return request.param, parse_dockerfile(DOCKERFILES[request.param])


def test_parser_joins_continuations_and_drops_comments(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM a:1.2.3\n# note\nRUN echo 1 \\\n# inside\n    && echo 2\nUSER 1000\n")
    assert parse_dockerfile(path) == [
        ("FROM", "a:1.2.3"),
        ("RUN", "echo 1     && echo 2"),
        ("USER", "1000"),
    ]


def test_base_image_is_pinned(dockerfile: tuple[str, list[Instruction]]) -> None:
    name, instructions = dockerfile
    froms = args_of(instructions, "FROM")
    assert froms, f"{name}: no FROM"
    stages: set[str] = set()
    for args in froms:
        tokens = [t for t in args.split() if not t.startswith("--platform")]
        ref = tokens[0]
        if len(tokens) == 3 and tokens[1].lower() == "as":
            stages.add(tokens[2])
        if ref in stages:
            continue
        assert "$" not in ref, f"{name}: FROM {ref}: pin the base literally, not through an ARG"
        if "@" in ref:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", ref.split("@", 1)[1]), ref
            continue
        last = ref.rsplit("/", 1)[-1]
        assert ":" in last, f"{name}: FROM {ref} has no tag (means latest)"
        tag = last.split(":", 1)[1]
        assert "latest" not in tag, f"{name}: FROM {ref}"
        # an exact release (major.minor.patch), e.g. 3.11.13-slim-bookworm, not 3.11-slim
        assert re.match(r"v?\d+\.\d+\.\d+", tag), f"{name}: FROM {ref}: tag is not an exact version"


def test_non_root_user_after_last_run(dockerfile: tuple[str, list[Instruction]]) -> None:
    name, instructions = dockerfile
    keywords = [kw for kw, _ in instructions]
    last_run = max(i for i, kw in enumerate(keywords) if kw == "RUN")
    users = [(i, args) for i, (kw, args) in enumerate(instructions) if kw == "USER"]
    assert users, f"{name}: no USER (the image would run as root)"
    index, user = users[-1]
    assert index > last_run, f"{name}: USER {user} comes before the last RUN"
    uid, _, gid = user.partition(":")
    assert uid not in ROOT_USERS and gid not in ROOT_USERS, f"{name}: USER {user} is root"
    assert uid.isdigit(), f"{name}: USER {user}: numeric, so that runAsNonRoot can verify it"


def test_no_secret_values_in_env_or_arg(dockerfile: tuple[str, list[Instruction]]) -> None:
    name, instructions = dockerfile
    values = dict(arg_defaults(instructions))
    for args in args_of(instructions, "ENV"):
        values.update(env_pairs(args))
    leaked = {k: v for k, v in values.items() if SECRET_NAME.search(k) and v}
    assert not leaked, f"{name}: secret-looking ENV/ARG with a value: {sorted(leaked)}"
    # endpoints and indexes come in as ARGs (overridable), never inline in a RUN
    for args in args_of(instructions, "RUN"):
        assert not re.search(r"https?://", args), f"{name}: URL inside RUN: {args[:80]}"


def test_default_cmd_imports_alseg_and_components(
    dockerfile: tuple[str, list[Instruction]],
) -> None:
    name, instructions = dockerfile
    assert not args_of(instructions, "ENTRYPOINT"), f"{name}: KFP sets the command; no ENTRYPOINT"
    cmds = args_of(instructions, "CMD")
    assert cmds, f"{name}: no CMD"
    argv = json.loads(cmds[-1])  # exec (JSON) form
    assert argv[:2] in (["python", "-c"], ["python3", "-c"]), argv
    code = argv[2]
    assert {"alseg", "components"} <= imported_modules(code), code
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("alseg "), result.stdout


def test_python_snippets_in_run_are_valid(dockerfile: tuple[str, list[Instruction]]) -> None:
    name, instructions = dockerfile
    snippets = [code for args in args_of(instructions, "RUN") for code in python_c_snippets(args)]
    assert snippets, f"{name}: expected build-time checks (python -c ...)"
    for code in snippets:
        ast.parse(code)  # raises SyntaxError with the offending line


def test_torch_pins_match_pyproject(dockerfile: tuple[str, list[Instruction]]) -> None:
    name, instructions = dockerfile
    pins = pyproject_pins()
    defaults = arg_defaults(instructions)
    assert defaults["TORCH_VERSION"] == pins["torch"], name
    assert defaults["TORCHVISION_VERSION"] == pins["torchvision"], name


def test_installs_the_project_with_kfp(dockerfile: tuple[str, list[Instruction]]) -> None:
    name, instructions = dockerfile
    runs = args_of(instructions, "RUN")
    assert any(re.search(r"pip install (\S+ )*\.(\s|$)", args) for args in runs), name
    assert args_of(instructions, "WORKDIR") == ["/app"], name
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0] for dep in deps}
    assert {"kfp", "kfp-kubernetes"} <= names


def test_cpu_image_takes_torch_from_index_arg() -> None:
    instructions = parse_dockerfile(DOCKERFILES["cpu"])
    index = arg_defaults(instructions)["TORCH_INDEX_URL"]
    assert index and index.startswith("https://") and index.rstrip("/").endswith("/cpu"), index
    torch_runs = [a for a in args_of(instructions, "RUN") if "torch==${TORCH_VERSION}" in a]
    assert torch_runs and '--index-url "${TORCH_INDEX_URL}"' in torch_runs[0]


def test_copy_sources_are_in_the_build_context() -> None:
    """.dockerignore is an allow-list ("*" then "!name"): every COPY source must be allowed, and
    the venv, git metadata, runs and tests must stay out."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = {p[1:] for p in patterns if p.startswith("!")}
    for path in DOCKERFILES.values():
        for args in args_of(parse_dockerfile(path), "COPY"):
            tokens = [t for t in args.split() if not t.startswith("--")]
            for source in tokens[:-1]:
                assert source.rstrip("/") in allowed, f"{path}: COPY {source} is ignored"
                assert (ROOT / source).exists(), f"{path}: COPY {source}: no such path"
    assert not allowed & {".venv", ".git", "runs", "tests", "build"}


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_images_tags_match_components() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALSEG_", "REGISTRY", "TAG"))}
    defaults = subprocess.run(
        [sys.executable, "-c", "import components as c; print(c.CPU_IMAGE, c.GPU_IMAGE)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    dry_run = subprocess.run(
        ["make", "-n", "-s", "images"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert dry_run.returncode == 0, dry_run.stderr
    for flavour, image in zip(("cpu", "gpu"), defaults, strict=True):
        assert re.search(
            rf"build -f images/{flavour}/Dockerfile -t {re.escape(image)}\s", dry_run.stdout
        )
    pushed = subprocess.run(
        ["make", "-n", "-s", "push-images", "REGISTRY=registry.example/team", "TAG=1.2.3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert pushed.returncode == 0, pushed.stderr
    assert "push registry.example/team/alseg-python-cpu:1.2.3" in pushed.stdout
    assert "push registry.example/team/alseg-python-gpu:1.2.3" in pushed.stdout
