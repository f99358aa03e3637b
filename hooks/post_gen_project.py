"""Prune the optional parts of the baked project that the answers did not ask for, and
record where the project came from (.cruft.json) so `make update-template` works.

Deterministic by design: no git init, no network, no timestamps; the same answers from
the same template commit always give the same tree. Answers arrive through ``tojson``
inside raw literals (see the pre-generation hook for why that is safe).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ANSWERS = {
    "license": json.loads(r'''{{ cookiecutter.license | tojson }}'''),
    "ci": json.loads(r'''{{ cookiecutter.ci | tojson }}'''),
    "docker": json.loads(r'''{{ cookiecutter.docker | tojson }}'''),
    "dvc_remote": json.loads(r'''{{ cookiecutter.dvc_remote | tojson }}'''),
}
# Every answer, derived and private ones included, as cookiecutter holds them.
CONTEXT: dict[str, Any] = json.loads(r'''{{ cookiecutter | tojson }}''')
# Set by cookiecutter about this run; cruft's own renders (create, update) leave them out.
RUN_KEYS = ("_template", "_output_dir", "_repo_dir", "_checkout")
CRUFT_FILE = ".cruft.json"
# Only the S3 remote needs DVC's S3 plugin (and its lock).
S3_PLUGIN = ("requirements/s3.in", "requirements/s3.txt")

# answer name -> {answer value -> paths (relative to the project) to remove}
PRUNE: dict[str, dict[str, tuple[str, ...]]] = {
    "license": {"Proprietary": ("LICENSE",)},
    "ci": {"none": (".github",)},
    "docker": {"no": ("Dockerfile", ".dockerignore")},
    "dvc_remote": {"local": S3_PLUGIN, "none": S3_PLUGIN},
}


def paths_to_prune(answers: dict[str, str]) -> list[str]:
    """List the project paths that the given answers exclude, in a stable order."""
    paths: list[str] = []
    for name, value in answers.items():
        paths.extend(PRUNE.get(name, {}).get(value, ()))
    return sorted(paths)


def prune(project: Path, paths: list[str]) -> None:
    """Delete each listed file or folder; a missing one means the template changed."""
    for relative in paths:
        target = project / relative
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        else:
            raise FileNotFoundError(f"post-gen hook expected {relative} in the baked project")


def git(folder: Path, *args: str) -> str | None:
    """A git command's output in ``folder``; None if git is missing or the command fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def template_folder(repo_dir: str) -> Path | None:
    """The template's folder as an absolute path, or None if it cannot be found.

    cookiecutter passes a local template as typed, perhaps relative to the folder it was
    started in, while this hook runs in the new project: $PWD still names that folder.
    """
    folder = Path(os.path.expanduser(repo_dir))
    if not folder.is_absolute():
        folder = Path(os.environ.get("PWD", "/nonexistent")) / folder
    return Path(os.path.abspath(folder)) if (folder / "cookiecutter.json").is_file() else None


def template_address(folder: Path, local: bool) -> str | None:
    """Where cruft can fetch the template's commit again, or None if nowhere.

    The clone cookiecutter made of a remote template: its remote. A local checkout: its
    remote too when a remote branch holds the commit (so the project's other clones can
    update), else its absolute path on this machine, as `cruft create` records it.
    """
    origin = git(folder, "remote", "get-url", "origin")
    if not local:
        return origin
    if origin and git(folder, "branch", "--remotes", "--contains", "HEAD"):
        return origin
    return str(folder)


def cruft_state(context: dict[str, Any]) -> dict[str, Any] | None:
    """What `cruft create` would write in .cruft.json for this bake, or None when the bake
    cannot be traced to a template commit (a zip, a folder outside git, git missing)."""
    if not context.get("_repo_dir"):
        return None  # a cruft render: cruft writes .cruft.json itself
    folder = template_folder(str(context["_repo_dir"]))
    if folder is None or git(folder, "rev-parse", "--show-toplevel") != str(folder.resolve()):
        return None
    commit = git(folder, "rev-parse", "HEAD")
    typed = template_folder(str(context["_template"]))  # None for a URL or an abbreviation
    local = typed is not None and typed.resolve() == folder.resolve()
    template = template_address(folder, local)
    if commit is None or not template:
        return None
    if local and git(folder, "status", "--porcelain"):
        print(
            f"WARNING: the template at {folder} has uncommitted changes; {CRUFT_FILE}"
            f" records its last commit {commit[:8]}: template updates start from there.",
            file=sys.stderr,
        )
    # In cookiecutter.json's order, as cruft writes them (tojson sorted the keys).
    order = json.loads((folder / "cookiecutter.json").read_text(encoding="utf-8"))
    keys = [key for key in order if key in context] + sorted(set(context) - set(order))
    answers = {key: context[key] for key in keys if key not in RUN_KEYS}
    return {
        "template": template,
        "commit": commit,
        "checkout": context.get("_checkout"),
        "context": {"cookiecutter": {**answers, "_template": template, "_commit": commit}},
        "directory": None,
    }


def record_origin(project: Path, context: dict[str, Any]) -> None:
    """Write .cruft.json the way cruft does, or say how to link the project later."""
    state = cruft_state(context)
    if state is None:
        if context.get("_repo_dir"):
            print(
                f"Note: no {CRUFT_FILE} (the template is not a git checkout): to take template"
                " updates later, run in the project after make setup:"
                " .venv/bin/cruft link <template-url>",
                file=sys.stderr,
            )
        return
    text = json.dumps(state, ensure_ascii=False, indent=2, separators=(",", ": ")) + "\n"
    (project / CRUFT_FILE).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    prune(Path.cwd(), paths_to_prune(ANSWERS))
    record_origin(Path.cwd(), CONTEXT)
