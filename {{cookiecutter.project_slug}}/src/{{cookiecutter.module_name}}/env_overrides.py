"""Environment variables that override params.yaml keys: pydantic-settings' source, plus our rules.

``{{ cookiecutter.module_name | upper }}__SECTION__KEY=value`` sets ``section.key``. Names are read in lower case,
values are parsed as YAML, and a mapping merges into the one in params.yaml (pydantic-settings'
deep update). config.Settings reads this source before params.yaml, so the environment wins.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import yaml
from pydantic_settings import EnvSettingsSource

# The variables being read: os.environ, or the mapping given to load_settings (tests pass one).
ENVIRON: ContextVar[Mapping[str, str]] = ContextVar("environ", default=os.environ)


class OverrideError(ValueError):
    """A variable names no section of params.yaml, or its value is not valid YAML."""


class EnvOverrides(EnvSettingsSource):
    """pydantic-settings' environment source, with three rules it has no option for.

    It reads ``ENVIRON``, where pydantic-settings reads only ``os.environ``. It parses
    every value as YAML, where pydantic-settings decodes only lists and mappings (as JSON)
    and leaves the rest as text, which untyped keys (``model.params``) would keep. And it
    rejects a variable naming no section, which pydantic-settings skips silently; a misspelt
    key inside a section needs no check here, as the sections forbid unknown keys.
    """

    def _load_env_vars(self) -> Mapping[str, Any]:
        """Our variables, named in lower case, values parsed (pydantic-settings' .env source
        overrides this same method to read a file instead of the environment)."""
        fields = self.settings_cls.model_fields
        sections = {field.alias or name for name, field in fields.items()} - {"root"}
        values = {}
        for name, text in ENVIRON.get().items():
            if not name.lower().startswith(self.env_prefix.lower()):
                continue
            section = name[len(self.env_prefix) :].split(self.env_nested_delimiter)[0].lower()
            if section not in sections:
                raise OverrideError(
                    f"environment variable {name}: params.yaml has no section {section!r}"
                    f" (sections: {', '.join(sorted(sections))})"
                )
            try:
                values[name.lower()] = yaml.safe_load(text)
            except yaml.YAMLError as error:
                raise OverrideError(
                    f"environment variable {name}: not valid YAML: {error}"
                ) from None
        return values

    def decode_complex_value(self, field_name: str, field: Any, value: Any) -> Any:
        """Return the value as it is: parsed as YAML already (JSON is YAML too)."""
        return value


def variables_setting(key: tuple[str, ...], prefix: str, delimiter: str = "__") -> list[str]:
    """The variables in ``ENVIRON`` that set ``key``, a section holding it, or a key inside it."""
    key = tuple(part.lower() for part in key)
    found: list[str] = []
    if not key:  # a rule across sections: no one variable is to blame
        return found
    for name in ENVIRON.get():
        if name.lower().startswith(prefix.lower()):
            parts = tuple(name[len(prefix) :].lower().split(delimiter))
            if key[: len(parts)] == parts[: len(key)]:
                found.append(name)
    return sorted(found)
