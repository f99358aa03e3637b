"""Prune the optional parts of the baked project that the answers did not ask for, and
record where a project baked from a template URL came from (.cruft.json).

Deterministic by design: no git init, no network, no timestamps; the same answers from
the same template commit always give the same tree. Only a template named by a network
URL (https://, ssh://, git@host:..., gh:owner/repo) is recorded: that URL, the commit
cookiecutter cloned and the answers, as `cruft create` writes them, so `make
update-template` works straight away. A local checkout is never recorded (its path is
this machine's, and its remotes are not what the user typed). Answers arrive through
``tojson`` inside raw literals (see the pre-generation hook for why that is safe).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

ANSWERS = {
    "license": json.loads(r'''{{ cookiecutter.license | tojson }}'''),
    "ci": json.loads(r'''{{ cookiecutter.ci | tojson }}'''),
    "docker": json.loads(r'''{{ cookiecutter.docker | tojson }}'''),
    "dvc_remote": json.loads(r'''{{ cookiecutter.dvc_remote | tojson }}'''),
    "deploy": json.loads(r'''{{ cookiecutter.deploy | tojson }}'''),
}
# Every answer, derived and private ones included, as cookiecutter holds them.
CONTEXT: dict[str, Any] = json.loads(r'''{{ cookiecutter | tojson }}''')
# Set by cookiecutter about this run; cruft's own renders (create, update) leave them out.
RUN_KEYS = ("_template", "_output_dir", "_repo_dir", "_checkout")
CRUFT_FILE = ".cruft.json"
# cookiecutter's built-in abbreviations, expanded as it does (git cannot clone "gh:...").
ABBREVIATIONS = {
    "gh": "https://github.com/{0}.git",
    "gl": "https://gitlab.com/{0}.git",
    "bb": "https://bitbucket.org/{0}",
}
# What can be cloned again from another machine: http(s), ssh, git, or scp-like user@host:.
NETWORK_URL = re.compile(r"^(?:(?:https?|ssh|git)://|[\w.-]+@[\w.-]+:)")
# Only the S3 remote needs DVC's S3 plugin (and its lock).
S3_PLUGIN = ("requirements/s3.in", "requirements/s3.txt")

# answer name -> {answer value -> paths (relative to the project) to remove}
PRUNE: dict[str, dict[str, tuple[str, ...]]] = {
    "license": {"Proprietary": ("LICENSE",)},
    "ci": {"none": (".github",)},
    "docker": {"no": ("Dockerfile", ".dockerignore")},
    "dvc_remote": {"local": S3_PLUGIN, "none": S3_PLUGIN},
    "deploy": {"none": ("deploy", "tests/test_kubernetes.py")},
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


def template_url(typed: str) -> str | None:
    """The network URL the template was baked from, or None (a local path, file://, zip)."""
    prefix, colon, rest = typed.partition(":")
    if colon and prefix in ABBREVIATIONS and not rest.startswith("//"):
        typed = ABBREVIATIONS[prefix].format(rest)
    typed = typed.removeprefix("git+")
    return typed if NETWORK_URL.match(typed) else None


def cloned_commit(clone: str) -> str | None:
    """The commit cookiecutter checked out in its clone, or None if git cannot tell."""
    try:
        done = subprocess.run(
            ["git", "-C", clone, "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def cruft_state(context: dict[str, Any]) -> dict[str, Any] | None:
    """What `cruft create` writes in .cruft.json for this bake, or None when the template
    was not named by a network URL (or this is cruft's own render: it writes the file)."""
    url = template_url(str(context.get("_template") or ""))
    clone = context.get("_repo_dir")
    commit = cloned_commit(str(clone)) if url and clone else None
    if commit is None:
        return None
    # In cookiecutter.json's order, as cruft writes them (tojson sorted the keys).
    order = json.loads((Path(str(clone)) / "cookiecutter.json").read_text(encoding="utf-8"))
    keys = [key for key in order if key in context] + sorted(set(context) - set(order))
    answers = {key: context[key] for key in keys if key not in RUN_KEYS}
    return {
        "template": url,
        "commit": commit,
        "checkout": context.get("_checkout"),
        "context": {"cookiecutter": {**answers, "_template": url, "_commit": commit}},
        "directory": None,
    }


def record_origin(project: Path, context: dict[str, Any]) -> None:
    """Write .cruft.json the way cruft does, for a bake from a template URL only."""
    state = cruft_state(context)
    if state is not None:
        text = json.dumps(state, ensure_ascii=False, indent=2, separators=(",", ": ")) + "\n"
        (project / CRUFT_FILE).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    prune(Path.cwd(), paths_to_prune(ANSWERS))
    record_origin(Path.cwd(), CONTEXT)
