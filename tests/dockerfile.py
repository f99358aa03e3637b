"""Just enough of a Dockerfile and .dockerignore reader to rehearse an image without Docker.

There is no container engine on the test machines, so the tests replay what the image
would do: which files its build context lets in, what it copies, its environment, its
command and its health check.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    """One `FROM ... AS name` stage: its instructions in order, continuation lines joined."""

    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for name, args in self.instructions if name == keyword]

    def env(self) -> dict[str, str]:
        """ENV key=value pairs (the only ENV form the template uses)."""
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                values[key] = value
        return values

    def copies(self) -> list[tuple[list[str], str]]:
        """(sources, destination) of each COPY from the build context (not --from)."""
        result = []
        for args in self.all("COPY"):
            parts = shlex.split(args)
            if any(part.startswith("--from") for part in parts):
                continue
            result.append((parts[:-1], parts[-1]))
        return result

    def exec_form(self, keyword: str) -> list[str]:
        """The JSON (exec) form of the last CMD, or of HEALTHCHECK's CMD."""
        args = self.all(keyword)[-1]
        if keyword == "HEALTHCHECK":
            args = args[args.index("CMD") + len("CMD") :]
        return json.loads(args)


def parse(path: Path) -> list[Stage]:
    """Split a Dockerfile into stages of (INSTRUCTION, arguments)."""
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        if keyword == "FROM":
            stages.append(Stage(name=args.split(" AS ")[-1].strip()))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def _pattern(pattern: str) -> re.Pattern[str]:
    regex = re.escape(pattern.strip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
    return re.compile(f"^{regex}(/.*)?$")


def context_files(project: Path) -> list[str]:
    """The files `docker build` would send: .dockerignore rules, last match wins."""
    rules = [
        (line.startswith("!"), _pattern(line.lstrip("!")))
        for line in (project / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    kept = []
    for path in sorted(project.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(project).as_posix()
        included = True
        for negated, pattern in rules:
            if pattern.match(relative):
                included = negated
        if included:
            kept.append(relative)
    return kept
