"""The generated project's git hooks pass on a fresh bake and each guard bites.

Slow: it uses the shared baked project (its `make setup` installed the hooks). Every case
makes a real `git commit`, exactly what a user does, and expects the named hook to stop it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import DEFAULT_MODULE, run

pytestmark = pytest.mark.slow

# Split so this file itself does not trip the template repository's own key detector.
PRIVATE_KEY = (
    "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\n-----END RSA PRIVATE KEY-----\n"
)
NOTEBOOK = (
    '{"cells": [{"cell_type": "code", "execution_count": 3, "id": "a1", "metadata": {}, '
    '"outputs": [{"name": "stdout", "output_type": "stream", "text": ["42\\n"]}], '
    '"source": ["print(42)"]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'
)

# name -> (file to add, its content, the hook that must stop the commit)
BAD_COMMITS: dict[str, tuple[str, str | bytes, str]] = {
    "serving imports training": (
        f"src/{DEFAULT_MODULE}/serving/leak.py",
        f'"""Leak."""\n\nfrom {DEFAULT_MODULE}.training import train\n\n__all__ = ["train"]\n',
        "import contracts",
    ),
    "private key": ("deploy/id_rsa", PRIVATE_KEY, "no private keys"),
    "unformatted code": (
        f"src/{DEFAULT_MODULE}/ugly.py",
        '"""Ugly."""\n\nVALUES = {  "a":1,\n  "b" :2 }\n',
        "ruff format",
    ),
    "large file": ("notes/blob.bin", bytes(range(256)) * 2400, "no large files in git"),
    "merge conflict markers": (
        "notes/merge.txt",
        "<<<<<<< ours\nx\n=======\ny\n>>>>>>> theirs\n",
        "no merge-conflict markers",
    ),
    "leftover rej file": ("Makefile.rej", "@@ -1 +1 @@\n-a\n+b\n", "no leftover *.rej files"),
    "notebook with outputs": ("notebooks/explore.ipynb", NOTEBOOK, "strip notebook outputs"),
    "invalid yaml": ("config/broken.yaml", "key: [unclosed\n", "YAML is valid"),
}


def git(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def committed(project: Path) -> Path:
    """The baked project with everything committed: the hooks must let a fresh bake in."""
    run(["git", "add", "--all"], project)
    result = git(project, "commit", "--quiet", "-m", "Fresh bake")
    assert result.returncode == 0, result.stdout + result.stderr
    assert git(project, "status", "--porcelain").stdout == ""
    return project


def test_hooks_are_installed_by_setup(project: Path) -> None:
    hooks = project / ".git/hooks"
    for name in ("pre-commit", "post-checkout", "pre-push"):
        assert "pre-commit" in (hooks / name).read_text(encoding="utf-8"), name


def test_all_hooks_pass_on_a_fresh_bake(committed: Path) -> None:
    result = run(["make", "hooks"], committed)
    assert "Failed" not in result.stdout
    assert git(committed, "status", "--porcelain").stdout == "", "a hook changed a file"


@pytest.fixture
def bad_file(committed: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, str]]:
    """Write and stage one bad file; afterwards unstage and delete it."""
    relative, content, hook = BAD_COMMITS[request.param]
    path = committed / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    run(["git", "add", "--force", relative], committed)
    try:
        yield path, hook
    finally:
        git(committed, "reset", "--quiet", "--", relative)
        path.unlink(missing_ok=True)
        assert git(committed, "status", "--porcelain").stdout == ""


@pytest.mark.parametrize("bad_file", sorted(BAD_COMMITS), indirect=True)
def test_each_guard_stops_a_bad_commit(committed: Path, bad_file: tuple[Path, str]) -> None:
    _, hook = bad_file
    result = git(committed, "commit", "--quiet", "-m", "Should be refused")
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"the commit went through:\n{output}"
    failed = [line for line in output.splitlines() if line.endswith("Failed")]
    assert any(line.startswith(hook) for line in failed), output
