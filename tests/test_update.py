"""Template updates: a project records its origin and takes later changes.

Made with `cruft create`, or with plain cookiecutter from a template URL (the
post-generation hook writes the same .cruft.json), `make update-template` works straight
away. The template is copied into a temporary git repository so the test can change and
commit it the way a maintainer would. No network: git's ``url.<base>.insteadOf`` maps a
fake https URL to that copy, for cookiecutter's and cruft's clones alike.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter
from helpers import DEFAULT_SLUG, TOOLS, git_commit, run

FAKE_HOST = "https://templates.example.invalid/"


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


def map_url(monkeypatch: pytest.MonkeyPatch, prefix: str, folder: Path) -> None:
    """Make git (in this process's children) clone URLs starting with ``prefix`` from
    ``folder``: git's url.<base>.insteadOf, set through the environment only."""
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.{folder}/.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", prefix)


@pytest.fixture
def template_url(template_repo: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An https URL of the template copy that git clones from disk (cookiecutter takes a
    URL for a git repository only if it says git)."""
    served = template_repo.parent / "served"
    served.mkdir()
    (served / "template.git").symlink_to(template_repo)
    map_url(monkeypatch, FAKE_HOST, served)
    return f"{FAKE_HOST}template.git"


@pytest.fixture
def url_project(template_url: str, tmp_path: Path) -> Path:
    """A project made with plain cookiecutter from the template's URL, committed in its
    own repo (the test above shows `cruft create` records the same origin)."""
    path = plain_bake(template_url, tmp_path)
    run(["git", "init", "--quiet"], path)
    git_commit(path, "Generated")
    return path


def test_plain_cookiecutter_from_a_url_records_what_cruft_create_does(
    template_url: str, template_repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cruft"
    out.mkdir()
    cruft("create", "--no-input", "--output-dir", str(out), template_url, cwd=tmp_path)
    plain = plain_bake(template_url, tmp_path)
    recorded = (plain / ".cruft.json").read_text(encoding="utf-8")
    assert recorded == (out / DEFAULT_SLUG / ".cruft.json").read_text(encoding="utf-8")
    state = json.loads(recorded)
    assert (state["template"], state["commit"]) == (template_url, head(template_repo))
    assert state["context"]["cookiecutter"]["module_name"] == "penguin_classifier"
    # Neither the clone in cookiecutters_dir nor the copy it maps to is named.
    assert str(tmp_path) not in recorded
    assert str(Path.home()) + "/" not in recorded


def test_a_github_abbreviation_is_recorded_as_its_url(
    template_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gh:owner/name is what cookiecutter clones as https://github.com/owner/name.git."""
    hub = tmp_path / "hub"
    (hub / "owner").mkdir(parents=True)
    (hub / "owner/template.git").symlink_to(template_repo)
    map_url(monkeypatch, "https://github.com/", hub)
    project = plain_bake("gh:owner/template", tmp_path)
    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert state["template"] == "https://github.com/owner/template.git"
    assert state["commit"] == head(template_repo)


def test_a_local_template_records_nothing(template_repo: Path, tmp_path: Path) -> None:
    """A path is this machine's: neither a checkout (with or without a remote) nor a
    file:// URL is recorded, so a local bake's tree never depends on git remotes."""
    run(["git", "remote", "add", "origin", f"{FAKE_HOST}template"], template_repo)
    for name, source in (("path", str(template_repo)), ("file", f"git+file://{template_repo}")):
        (tmp_path / name).mkdir()
        assert not (plain_bake(source, tmp_path / name) / ".cruft.json").exists(), source


def test_template_change_applies_cleanly(url_project: Path, template_repo: Path) -> None:
    # The user changes their project; the maintainer changes the template elsewhere.
    params = url_project / "params.yaml"
    params.write_text(params.read_text(encoding="utf-8").replace("C: 1.0", "C: 0.5"), "utf-8")
    git_commit(url_project, "Tune C")
    readme = template_repo / "{{cookiecutter.project_slug}}/README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nUpdated by the template.\n", "utf-8")
    new_file = template_repo / "{{cookiecutter.project_slug}}/docs/NEW.md"
    new_file.parent.mkdir(exist_ok=True)
    new_file.write_text("# {{ cookiecutter.project_name }}\n", encoding="utf-8")
    git_commit(template_repo, "Template v2")

    stale = subprocess.run(
        [str(TOOLS / "cruft"), "check"], cwd=url_project, capture_output=True, text=True
    )
    assert stale.returncode != 0, "cruft check must notice the newer template"

    tools_first = {**os.environ, "PATH": f"{TOOLS}{os.pathsep}{os.environ['PATH']}"}
    run(["make", "update-template"], url_project, env=tools_first)  # cruft update

    assert (
        (url_project / "README.md")
        .read_text(encoding="utf-8")
        .endswith("Updated by the template.\n")
    )
    assert (url_project / "docs/NEW.md").read_text(encoding="utf-8") == "# Penguin Classifier\n"
    assert "C: 0.5" in params.read_text(encoding="utf-8"), "the user's change was lost"
    assert not list(url_project.rglob("*.rej"))
    conflicted = [
        path
        for path in url_project.rglob("*")
        if path.is_file()
        and ".git" not in path.parts
        and "<<<<<<<" in path.read_text(encoding="utf-8", errors="ignore")
    ]
    assert conflicted == []
    cruft("check", cwd=url_project)
