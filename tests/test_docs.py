"""The documentation runs: every ```python block of README.md and docs/*.md, every `edgelower ...` command of the
README, and the examples the README points to. Blocks of one page run in order in one fresh interpreter (a later
block may use an earlier one's names), in a temporary working directory holding a copy of examples/."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
# Pages whose code compiles whole models (seconds to a minute each); the others run in the fast lane.
SLOW_PAGES = {"README.md", "cortex-m.md", "quantization.md", "torch-compile.md", "tvm.md"}


def blocks(page: Path, language: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(page.read_text()) if m.group(1) == language]


def readme_commands() -> list[str]:
    """The README's shell lines that call edgelower or build a saved project, without their comments."""
    lines = [line.split("#")[0].strip() for block in blocks(ROOT / "README.md", "sh") for line in block.splitlines()]
    return [line for line in lines if line.startswith(("edgelower ", "make -C "))]


def requirement(page: str) -> str | None:
    """Why a page's code cannot run on this machine, or None."""
    if page == "cortex-m.md":
        from edgelower.runtime.cortex_m import missing_packages
        from edgelower.targets import TARGETS

        missing = missing_packages(TARGETS["cortex-m4"])
        return f"needs the Debian packages {' '.join(missing)}" if missing else None
    if page == "quantization.md":
        try:
            import torchao  # noqa: F401
        except ImportError:
            return "needs torchao (pip install torchao) for the PT2E example"
    if page == "tvm.md":
        try:
            import tvm  # noqa: F401
        except ImportError:
            return "needs Apache TVM: pip install 'edgelower[tvm]'"
    return None


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_python(code: str, cwd: Path, timeout: float = 900) -> None:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"exit status {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"


def page_params() -> list:
    return [pytest.param(page, id=page.name, marks=[pytest.mark.slow] if page.name in SLOW_PAGES else [])
            for page in PAGES if blocks(page, "python")]


@pytest.mark.parametrize("page", page_params())
def test_python_blocks_run(page, workdir):
    why = requirement(page.name)
    if why:
        pytest.skip(why)
    code = "\n\n".join(f"# --- {page.name}, block {i}\n{block}" for i, block in enumerate(blocks(page, "python")))
    run_python(code, workdir)


def test_code_is_fenced_as_python_or_sh():
    """A block fenced as `py` or `python3` would escape test_python_blocks_run."""
    for page in PAGES:
        assert not [lang for lang, _ in FENCE.findall(page.read_text()) if lang in ("py", "python3", "pycon")], page


@pytest.mark.slow
def test_readme_commands_run_in_order(workdir):
    from edgelower import cli

    commands = readme_commands()
    assert len(commands) >= 8, commands
    for command in commands:
        argv = shlex.split(command)
        if argv[0] == "make":
            if shutil.which("make") is None:
                continue
            done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True)
            assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        else:
            assert cli.main(argv[1:]) == 0, command


def test_readme_commands_parse():
    from edgelower import cli

    for command in readme_commands():
        argv = shlex.split(command)
        if argv[0] == "edgelower":
            cli.parser().parse_args(argv[1:])


def test_readme_says_how_to_reach_the_environment():
    readme = (ROOT / "README.md").read_text()
    assert "source .venv/bin/activate" in readme and ".venv/bin/edgelower" in readme
    first_command = readme.index("edgelower zoo")
    assert readme.index("source .venv/bin/activate") < first_command


@pytest.mark.slow
@pytest.mark.parametrize("example", ["compile_aot.py", "torch_compile.py"])
def test_examples_the_readme_points_to_run(example, workdir):
    run_python((workdir / "examples" / example).read_text(), workdir)


def test_docs_cite_no_private_notes():
    for page in PAGES:
        text = page.read_text()
        assert "notes/field-anchors.md" not in text and "notes/papers.md" not in text, page
