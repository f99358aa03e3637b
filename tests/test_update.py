"""Template updates: a project made with cruft records its origin and takes later changes.

The template is copied into a temporary git repository so the test can change and commit
it the way a maintainer would, then `cruft update` is run in the generated project.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import DEFAULT_SLUG, TOOLS, git_commit, run


def cruft(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([str(TOOLS / "cruft"), *args], cwd)


@pytest.fixture
def cruft_project(template_repo: Path, tmp_path: Path) -> Path:
    """A project created with cruft from the template copy, committed in its own repo."""
    out = tmp_path / "out"
    out.mkdir()
    cruft("create", "--no-input", "--output-dir", str(out), str(template_repo), cwd=tmp_path)
    path = out / DEFAULT_SLUG
    run(["git", "init", "--quiet"], path)
    git_commit(path, "Generated")
    return path


def test_project_records_its_template_origin(cruft_project: Path, template_repo: Path) -> None:
    state = json.loads((cruft_project / ".cruft.json").read_text(encoding="utf-8"))
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=template_repo, capture_output=True, text=True
    ).stdout.strip()
    assert state["template"] == str(template_repo)
    assert state["commit"] == head
    assert state["context"]["cookiecutter"]["module_name"] == "penguin_classifier"
    cruft("check", cwd=cruft_project)


def test_template_change_applies_cleanly(cruft_project: Path, template_repo: Path) -> None:
    # The user changes their project; the maintainer changes the template elsewhere.
    params = cruft_project / "params.yaml"
    params.write_text(params.read_text(encoding="utf-8").replace("C: 1.0", "C: 0.5"), "utf-8")
    git_commit(cruft_project, "Tune C")
    readme = template_repo / "{{cookiecutter.project_slug}}/README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nUpdated by the template.\n", "utf-8")
    new_file = template_repo / "{{cookiecutter.project_slug}}/docs/NEW.md"
    new_file.parent.mkdir(exist_ok=True)
    new_file.write_text("# {{ cookiecutter.project_name }}\n", encoding="utf-8")
    git_commit(template_repo, "Template v2")

    stale = subprocess.run(
        [str(TOOLS / "cruft"), "check"], cwd=cruft_project, capture_output=True, text=True
    )
    assert stale.returncode != 0, "cruft check must notice the newer template"

    cruft("update", "--skip-apply-ask", cwd=cruft_project)

    assert (
        (cruft_project / "README.md")
        .read_text(encoding="utf-8")
        .endswith("Updated by the template.\n")
    )
    assert (cruft_project / "docs/NEW.md").read_text(encoding="utf-8") == "# Penguin Classifier\n"
    assert "C: 0.5" in params.read_text(encoding="utf-8"), "the user's change was lost"
    assert not list(cruft_project.rglob("*.rej"))
    conflicted = [
        path
        for path in cruft_project.rglob("*")
        if path.is_file()
        and ".git" not in path.parts
        and "<<<<<<<" in path.read_text(encoding="utf-8", errors="ignore")
    ]
    assert conflicted == []
    cruft("check", cwd=cruft_project)
