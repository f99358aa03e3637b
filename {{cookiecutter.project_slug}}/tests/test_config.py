"""params.yaml loads into strict settings; typos fail loudly; the environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.module_name }}.config import (
    ENV_PREFIX,
    ConfigError,
    Settings,
    load_settings,
)


def write_params(folder: Path, settings: Settings, **section_changes: dict) -> Path:
    """Write a params.yaml built from the project's own, with some sections changed."""
    raw = yaml.safe_load((settings.root / "params.yaml").read_text(encoding="utf-8"))
    for section, changes in section_changes.items():
        raw[section] = {**raw[section], **changes}
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_every_path_is_absolute_and_inside_the_project(settings: Settings) -> None:
    for name, path in settings.paths.model_dump().items():
        assert path.is_absolute(), name
        assert path.resolve().is_relative_to(settings.root.resolve()), name


def test_settings_are_frozen(settings: Settings) -> None:
    with pytest.raises(ValueError, match="frozen"):
        settings.split.test_size = 0.5  # type: ignore[misc]


def test_misspelt_key_is_named_in_the_error(settings: Settings, tmp_path: Path) -> None:
    path = write_params(tmp_path, settings, model={"paramz": {}})
    with pytest.raises(ConfigError, match=r"model\.paramz.*unknown key"):
        load_settings(path, environ={})


def test_missing_section_is_named(settings: Settings, tmp_path: Path) -> None:
    raw = yaml.safe_load((settings.root / "params.yaml").read_text(encoding="utf-8"))
    del raw["split"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="split"):
        load_settings(path, environ={})


def test_missing_params_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "params.yaml", environ={})


def test_environment_overrides_a_nested_key(settings: Settings) -> None:
    environ = {f"{ENV_PREFIX}__SERVING__MAX_BATCH_SIZE": "7"}
    overridden = load_settings(settings.root / "params.yaml", environ=environ)
    assert overridden.serving.max_batch_size == 7
    assert overridden.split == settings.split


def test_bad_environment_override_is_rejected(settings: Settings) -> None:
    environ = {f"{ENV_PREFIX}__SPLIT__TEST_SIZE": "2.5"}
    with pytest.raises(ConfigError, match=r"split\.test_size"):
        load_settings(settings.root / "params.yaml", environ=environ)


def test_relative_paths_resolve_against_the_params_folder(
    settings: Settings, tmp_path: Path
) -> None:
    path = write_params(tmp_path, settings)
    moved = load_settings(path, environ={})
    assert moved.paths.model.parent.parent == tmp_path.resolve()
