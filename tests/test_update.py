"""Template updates: a project records its origin and takes later changes.

Made with `cruft create` or with plain cookiecutter (the post-generation hook writes the
same .cruft.json), `make update-template` works straight away. The template is copied into
a temporary git repository so the test can change and commit it the way a maintainer
would, then the update is run in the generated project.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter
from helpers import DEFAULT_SLUG, TOOLS, git_commit, run


def cruft(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([str(TOOLS / "cruft"), *args], cwd)


def plain_bake(template: str, tmp_path: Path) -> Path:
    """Bake with plain cookiecutter, its clones and replays kept in ``tmp_path``."""
    config = tmp_path / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {tmp_path / 'clones'}\nreplay_dir: {tmp_path / 'replay'}\n",
        encoding="utf-8",
    )
    out = tmp_path / "plain"
    return Path(cookiecutter(template, no_input=True, output_dir=str(out), config_file=str(config)))


def head(repository: Path) -> str:
    return run(["git", "rev-parse", "HEAD"], repository).stdout.strip()


@pytest.fixture(params=["cruft create", "cookiecutter"])
def cruft_project(request: pytest.FixtureRequest, template_repo: Path, tmp_path: Path) -> Path:
    """A project made from the template copy, with cruft or with plain cookiecutter,
    committed in its own repo."""
    if request.param == "cookiecutter":
        path = plain_bake(str(template_repo), tmp_path)
    else:
        out = tmp_path / "out"
        out.mkdir()
        cruft("create", "--no-input", "--output-dir", str(out), str(template_repo), cwd=tmp_path)
        path = out / DEFAULT_SLUG
    run(["git", "init", "--quiet"], path)
    git_commit(path, "Generated")
    return path


def test_plain_cookiecutter_records_what_cruft_create_does(
    template_repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cruft"
    out.mkdir()
    cruft("create", "--no-input", "--output-dir", str(out), str(template_repo), cwd=tmp_path)
    plain = plain_bake(str(template_repo), tmp_path)
    recorded = (plain / ".cruft.json").read_bytes()
    assert recorded == (out / DEFAULT_SLUG / ".cruft.json").read_bytes()


def test_a_template_cloned_from_a_url_is_recorded_by_its_url(
    template_repo: Path, tmp_path: Path
) -> None:
    """cookiecutter clones a remote template: the record names the remote, not the clone."""
    project = plain_bake(f"git+file://{template_repo}", tmp_path)
    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert state["template"] == f"file://{template_repo}"
    assert state["commit"] == head(template_repo)
    assert str(tmp_path / "clones") not in (project / ".cruft.json").read_text(encoding="utf-8")
    cruft("check", cwd=project)


def test_a_template_outside_git_says_how_to_link_later(
    template_repo: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    loose = tmp_path / "loose"
    shutil.copytree(template_repo, loose, ignore=shutil.ignore_patterns(".git"))
    project = plain_bake(str(loose), tmp_path)
    assert not (project / ".cruft.json").exists()
    assert "cruft link <template-url>" in capfd.readouterr().err


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

    tools_first = {**os.environ, "PATH": f"{TOOLS}{os.pathsep}{os.environ['PATH']}"}
    run(["make", "update-template"], cruft_project, env=tools_first)  # cruft update

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
