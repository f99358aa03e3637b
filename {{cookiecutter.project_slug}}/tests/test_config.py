"""params.yaml loads into strict settings; typos fail loudly; the environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.module_name }}.config import (
    ENV_PREFIX,
    PARAMS_ENV,
    ConfigError,
    Settings,
    default_params_path,
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


def overridden(settings: Settings, **variables: str) -> Settings:
    """Load the project's params.yaml with ``PREFIX__<name>`` variables, not os.environ."""
    environ = {f"{ENV_PREFIX}__{name}": value for name, value in variables.items()}
    return load_settings(settings.root / "params.yaml", environ=environ)


def test_environment_overrides_a_nested_key(settings: Settings) -> None:
    changed = overridden(settings, SERVING__MAX_BATCH_SIZE=str(settings.serving.max_batch_size + 7))
    assert changed.serving.max_batch_size == settings.serving.max_batch_size + 7
    assert changed.serving.max_body_bytes == settings.serving.max_body_bytes
    assert changed.split == settings.split


def test_variable_names_are_case_insensitive_after_the_prefix(settings: Settings) -> None:
    changed = overridden(settings, serving__Max_Batch_Size="3", MONITORING__DRIFT__MIN_RECORDS="9")
    assert (changed.serving.max_batch_size, changed.monitoring.drift.min_records) == (3, 9)


def test_environment_values_are_parsed_as_yaml(settings: Settings) -> None:
    changed = overridden(
        settings,
        BATCH__ID_COLUMNS="[order_id, 'batch id']",
        SERVING__TRUSTED_TYPES='["a.B"]',  # JSON is YAML too
        DASHBOARD__ENABLED="no",
        MONITORING__DRIFT__WINDOW_DAYS="null",
        MONITORING__DRIFT__MAX_RECORDS="500",
        MODEL__PARAMS__MAX_ITER="77",  # untyped: stays a number only because YAML parsed it
        MODEL__PARAMS__TOL="1.0e-3",
    )
    assert changed.batch.id_columns == ("order_id", "batch id")
    assert changed.serving.trusted_types == ("a.B",)
    assert changed.dashboard.enabled is False
    assert changed.monitoring.drift.window_days is None
    assert changed.monitoring.drift.max_records == 500
    assert changed.model.params["max_iter"] == 77
    assert changed.model.params["tol"] == pytest.approx(1e-3)


def test_a_trusted_type_is_a_full_name_never_a_prefix(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="trusted_types"):
        overridden(settings, SERVING__TRUSTED_TYPES='["numpy."]')


def test_schema_section_is_named_as_in_params_yaml(settings: Settings) -> None:
    # Variable names are read in lower case, so only a lower-case column can be named.
    columns = [name for name in settings.feature_schema.numeric if name == name.lower()]
    if not columns:
        pytest.skip("no numeric feature with a lower-case name")
    changed = overridden(settings, **{f"SCHEMA__RANGES__{columns[0].upper()}": "[-1, 1]"})
    assert changed.feature_schema.ranges[columns[0]] == (-1.0, 1.0)
    assert changed.feature_schema.target == settings.feature_schema.target


def test_a_mapping_value_merges_into_params_yaml(settings: Settings) -> None:
    changed = overridden(settings, MODEL__PARAMS="{max_iter: 5}")
    assert changed.model.params == {**settings.model.params, "max_iter": 5}


def test_bad_environment_override_is_rejected(settings: Settings) -> None:
    name = f"{ENV_PREFIX}__SPLIT__TEST_SIZE"
    with pytest.raises(ConfigError, match=rf"split\.test_size: .*set by {name}"):
        overridden(settings, SPLIT__TEST_SIZE="2.5")


def test_misspelt_section_in_a_variable_is_named(settings: Settings) -> None:
    name = f"{ENV_PREFIX}__SERVNG__MAX_BATCH_SIZE"
    with pytest.raises(ConfigError, match=rf"{name}: params.yaml has no section 'servng'"):
        overridden(settings, SERVNG__MAX_BATCH_SIZE="7")


def test_misspelt_key_in_a_variable_is_named(settings: Settings) -> None:
    name = f"{ENV_PREFIX}__SERVING__MAX_BATCH"
    with pytest.raises(ConfigError, match=rf"serving\.max_batch: .*unknown key.*set by {name}"):
        overridden(settings, SERVING__MAX_BATCH="7")
    nested = f"{ENV_PREFIX}__MONITORING__DRIF__MIN_RECORDS"
    with pytest.raises(ConfigError, match=rf"monitoring\.drif: .*unknown key.*set by {nested}"):
        overridden(settings, MONITORING__DRIF__MIN_RECORDS="7")


def test_variable_that_is_not_yaml_is_named(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=rf"{ENV_PREFIX}__BATCH__ID_COLUMNS: not valid YAML"):
        overridden(settings, BATCH__ID_COLUMNS="[a, b")


def test_root_cannot_be_overridden(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="no section 'root'"):
        overridden(settings, ROOT="/elsewhere")


def test_explicit_environ_ignores_os_environ(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}__SERVING__MAX_BATCH_SIZE", "3")
    monkeypatch.setenv(f"{ENV_PREFIX}__SERVNG__X", "typo that must not be read")
    assert overridden(settings).serving == settings.serving
    changed = overridden(settings, DASHBOARD__REFRESH_SECONDS="4")
    assert changed.serving == settings.serving
    assert changed.dashboard.refresh_seconds == 4
    monkeypatch.delenv(f"{ENV_PREFIX}__SERVNG__X")
    assert load_settings(settings.root / "params.yaml").serving.max_batch_size == 3


def test_params_variable_points_at_another_file(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_params(tmp_path, settings)
    monkeypatch.setenv(PARAMS_ENV, str(path))
    assert default_params_path() == path.resolve()
    assert load_settings(environ={}).root == tmp_path.resolve()


def test_relative_paths_resolve_against_the_params_folder(
    settings: Settings, tmp_path: Path
) -> None:
    path = write_params(tmp_path, settings)
    moved = load_settings(path, environ={})
    assert moved.paths.model.parent.parent == tmp_path.resolve()
