"""Reject answers that would bake a broken project, before any file is written.

Cookiecutter renders this file with Jinja first. Each answer arrives as a JSON string
inside a raw triple-quoted literal: Jinja's ``tojson`` escapes every single quote (as \\u0027),
so no answer (an apostrophe, quotes, non-ASCII) can break out of the literal.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

PROJECT_NAME = json.loads(r'''{{ cookiecutter.project_name | tojson }}''')
PROJECT_SLUG = json.loads(r'''{{ cookiecutter.project_slug | tojson }}''')
MODULE_NAME = json.loads(r'''{{ cookiecutter.module_name | tojson }}''')
PYTHON_VERSION = json.loads(r'''{{ cookiecutter.python_version | tojson }}''')
LICENSE = json.loads(r'''{{ cookiecutter.license | tojson }}''')
CHOICES = {
    "ci": json.loads(r'''{{ cookiecutter.ci | tojson }}'''),
    "docker": json.loads(r'''{{ cookiecutter.docker | tojson }}'''),
    "dvc_remote": json.loads(r'''{{ cookiecutter.dvc_remote | tojson }}'''),
}

SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
SUPPORTED_LICENSES = ("MIT", "BSD-3-Clause", "Apache-2.0", "Proprietary")
SUPPORTED_CHOICES = {
    "ci": ("github", "none"),
    "docker": ("yes", "no"),
    "dvc_remote": ("local", "s3", "none"),
}
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MODULE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


def check_answers() -> list[str]:
    """Return one readable message per invalid answer (empty when all are valid)."""
    problems: list[str] = []
    if not PROJECT_NAME.strip():
        problems.append("project_name is empty: give the project a human-readable name.")
    if not SLUG_PATTERN.match(PROJECT_SLUG):
        problems.append(
            f"project_slug {PROJECT_SLUG!r} is not a valid folder/package name: use lowercase "
            "letters, digits and single hyphens, starting with a letter (e.g. 'churn-model')."
        )
    if not MODULE_PATTERN.match(MODULE_NAME) or keyword.iskeyword(MODULE_NAME):
        problems.append(
            f"module_name {MODULE_NAME!r} is not a valid Python module name: use lowercase "
            "letters, digits and underscores, starting with a letter, and not a Python "
            "keyword (e.g. 'churn_model')."
        )
    elif MODULE_NAME in sys.stdlib_module_names:
        problems.append(
            f"module_name {MODULE_NAME!r} would shadow the standard library module of the "
            "same name: pick another name (e.g. 'my_" + MODULE_NAME + "')."
        )
    if PYTHON_VERSION not in SUPPORTED_PYTHONS:
        problems.append(
            f"python_version {PYTHON_VERSION!r} is not supported: choose one of "
            + ", ".join(SUPPORTED_PYTHONS)
            + "."
        )
    if LICENSE not in SUPPORTED_LICENSES:
        problems.append(
            f"license {LICENSE!r} is not offered: choose one of "
            + ", ".join(SUPPORTED_LICENSES)
            + "."
        )
    for name, value in CHOICES.items():
        if value not in SUPPORTED_CHOICES[name]:
            problems.append(
                f"{name} {value!r} is not offered: choose one of "
                + ", ".join(SUPPORTED_CHOICES[name])
                + "."
            )
    return problems


def main() -> int:
    """Print every problem at once so the user can fix all answers in one go."""
    problems = check_answers()
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
