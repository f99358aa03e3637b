"""Load params.yaml into typed, frozen settings; the only place that knows where files live.

Every path in params.yaml is relative to the project root (the folder holding
params.yaml) and is resolved here, so code never builds a path by hand. Environment
variables override any key (pydantic-settings, see env_overrides.py): values are YAML, and
``{{ cookiecutter.module_name | upper }}__SERVING__MAX_BATCH_SIZE=50`` sets ``serving.max_batch_size``.
``{{ cookiecutter.module_name | upper }}_PARAMS`` points at another params file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from {{ cookiecutter.module_name }}.env_overrides import (
    ENVIRON,
    EnvOverrides,
    OverrideError,
    variables_setting,
)
from {{ cookiecutter.module_name }}.schema import FeatureSchema

ENV_PREFIX = "{{ cookiecutter.module_name | upper }}"
PARAMS_ENV = f"{ENV_PREFIX}_PARAMS"
# Set to 1 for Python's traceback where a command line would print one line.
DEBUG_ENV = f"{ENV_PREFIX}_DEBUG"
# The SMTP password is read from here only, never from params.yaml (notify.email).
SMTP_PASSWORD_ENV = f"{ENV_PREFIX}_SMTP_PASSWORD"
PARAMS_FILE = "params.yaml"
# paths.registry given as one of these is an object store's URL (prediction/objects.py).
REMOTE_SCHEMES = ("s3://",)


class ConfigError(ValueError):
    """params.yaml (or an override) is missing, malformed or names an unknown key."""


class _Section(BaseModel):
    """Strict and frozen: a misspelt key fails loudly instead of being ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PathSettings(_Section):
    """Every file the project reads or writes, relative to the project root."""

    raw_data: Path
    clean_data: Path
    train_data: Path
    test_data: Path
    model: Path
    onnx_model: Path
    metadata: Path
    metrics: Path
    predictions: Path
    # evaluate, regression: actual vs predicted values (a scatter plot); header only otherwise
    predicted_vs_actual: Path = Path("reports/predicted_vs_actual.csv")
    # A folder, or an object store's URL (s3://bucket/prefix) that replicas share: then
    # ``registry`` is this machine's mirror of it (``registry_cache``) and the URL is
    # ``registry_url`` (prediction/mirror.py).
    registry: Path
    registry_cache: Path
    retrain_jobs: Path
    # Monitoring (see the monitoring section of params.yaml).
    reference_profile: Path
    prediction_log: Path
    drift_report: Path
    drift_html: Path
    live_metrics: Path
    bundles: Path
    retrain_report: Path
    retrain_report_html: Path
    # make tune (defaults, so a params.yaml from before tuning still loads).
    tune_study: Path = Path("models/tune/study.db")
    tune_best: Path = Path("reports/tune/best.json")
    tune_trials: Path = Path("reports/tune/trials.csv")
    tune_live: Path = Path("reports/tune/live")

    _registry_url: str | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _remote_registry(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """``registry: s3://...``: keep the URL, read and write through the mirror."""
        url = None
        if isinstance(data, dict) and str(data.get("registry", "")).startswith(REMOTE_SCHEMES):
            url = str(data["registry"]).rstrip("/")
            data = {**data, "registry": data.get("registry_cache")}
        paths = handler(data)
        paths._registry_url = url
        return paths

    @property
    def registry_url(self) -> str | None:
        """The object store's URL when ``paths.registry`` is one, else None."""
        return self._registry_url


class DataSettings(_Section):
    """How to read the raw CSV and what counts as enough clean data."""

    separator: str = ","
    na_values: tuple[str, ...] = ()
    min_rows: int = Field(default=30, ge=2)


class SplitSettings(_Section):
    """Hold-out split used for evaluation."""

    test_size: float = Field(gt=0, lt=1)
    random_state: int = 42
    stratify: bool = True


class ModelSettings(_Section):
    """The estimator (a dotted import path) and how features are prepared for it."""

    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    numeric_imputer: Literal["mean", "median", "most_frequent"] = "median"
    scale_numeric: bool = True


class EvaluateSettings(_Section):
    """Quality gate: the model must beat a naive baseline on ``metric`` by ``min_improvement``."""

    # A scikit-learn metric name for the model's task (scoring.py checks it at `train`):
    # accuracy | balanced_accuracy | f1_macro | f1_weighted, or r2 | mean_absolute_error |
    # root_mean_squared_error | ... for a regressor. Errors are better when lower.
    metric: str = Field(default="f1_macro", pattern=r"^[a-z][a-z0-9_]*$")
    # DummyClassifier's (most_frequent, prior, stratified, uniform) or DummyRegressor's
    # (mean, median) strategy; unset: most_frequent or mean.
    baseline_strategy: (
        Literal["most_frequent", "prior", "stratified", "uniform", "mean", "median"] | None
    ) = None
    min_improvement: float = Field(default=0.05, ge=0)


class SearchDimension(_Section):
    """The range of one hyper-parameter: float or int (``low``..``high``), or ``choices``."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False  # sample on a log scale (positive ranges spanning decades, such as C)
    step: float | None = Field(default=None, gt=0)
    choices: tuple[Any, ...] = ()

    @model_validator(mode="after")
    def _complete(self) -> SearchDimension:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical dimension needs choices: [a, b, ...]")
        elif self.low is None or self.high is None or self.low > self.high:
            raise ValueError(f"a {self.type} dimension needs low <= high")
        return self


class TuneSettings(_Section):
    """``make tune``: an Optuna search over ``space``, cross-validated on the train split."""

    trials: int = Field(default=0, ge=0)  # 0: off, train uses model.params as they are
    timeout: float | None = Field(default=None, gt=0)
    metric: str | None = None  # None: evaluate.metric
    cv_folds: int = Field(default=5, ge=2)
    seed: int = 42
    jobs: int = Field(default=1, ge=1)
    storage: str | None = None  # None: a SQLite file at paths.tune_study; else a database URL
    space: dict[str, SearchDimension] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _space_when_on(self) -> TuneSettings:
        if self.trials and not self.space:
            raise ValueError("trials > 0 needs a search space: tune.space.<param>: {type: ...}")
        return self


# A type's full dotted name as skops.io.get_untrusted_types prints it (sklearn.tree._tree.Tree).
# Names are matched exactly: a prefix such as "numpy." is refused here rather than ignored.
TypeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")]


class ServingSettings(_Section):
    """Limits and policies of the prediction API."""

    max_batch_size: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    extra_columns: Literal["ignore", "reject"] = "ignore"
    trusted_types: tuple[TypeName, ...] = ()  # beyond storage.BUILDER_TYPES
    serve_unpromoted: bool = True
    reload_interval: float = Field(default=2.0, ge=-1)
    retrain_jobs_kept: int = Field(default=5, ge=1)


class RegistrySettings(_Section):
    """Model versions in git (GTO tags) and the champion/challenger gate of promotion."""

    artifact: str = Field(default="model", pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    tolerance: float = Field(default=0.02, ge=0)


class InferenceSettings(_Section):
    """Which engine computes predictions, and how closely the ONNX copy must agree."""

    runtime: Literal["auto", "onnx", "sklearn"] = "auto"
    onnx_tolerance: float = Field(default=1e-5, gt=0)
    # Regression: a value may also differ by this share of scikit-learn's (float32 rounding).
    onnx_relative_tolerance: float = Field(default=1e-4, ge=0)


class BatchSettings(_Section):
    """Batch scoring of files (`python -m ... prediction batch`): memory budget and outputs."""

    chunk_size: int = Field(default=100_000, ge=1)
    id_columns: tuple[str, ...] = ()
    errors_suffix: str = Field(default=".errors.csv", pattern=r"^[^/\\]*\.csv$")


class DashboardSettings(_Section):
    """``GET /dashboard``: on or off, and how often an open page refreshes its numbers."""

    enabled: bool = True
    refresh_seconds: float = Field(default=10.0, ge=0)


class PredictionLogSettings(_Section):
    """The log of served predictions: on or off, its size bound, what it must not hold."""

    enabled: bool = True
    # file: paths.prediction_log on this machine; stdout: one JSON line per record on the
    # worker's standard output, for a cluster's log collector (docs/monitoring.md).
    sink: Literal["file", "stdout"] = "file"
    max_bytes: int = Field(default=10_485_760, ge=1024)
    backups: int = Field(default=5, ge=0)
    queue_size: int = Field(default=1000, ge=1)
    exclude: tuple[str, ...] = ()
    hash: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _disjoint(self) -> PredictionLogSettings:
        both = sorted(set(self.exclude) & set(self.hash))
        if both:
            raise ValueError(f"columns both excluded and hashed: {both}; pick one")
        return self


class ProfileSettings(_Section):
    """The training data's reference profile, written beside the model by ``evaluate``."""

    bins: int = Field(default=10, ge=2, le=100)
    sample_size: int = Field(default=1000, ge=10)


class DriftSettings(_Section):
    """Which logged records ``drift`` compares, and when a difference counts as drift."""

    min_records: int = Field(default=100, ge=1)
    window_days: float | None = Field(default=None, gt=0)
    max_records: int | None = Field(default=None, ge=1)
    psi_warn: float = Field(default=0.1, ge=0)
    psi_alert: float = Field(default=0.25, gt=0)
    ks_pvalue: float = Field(default=0.01, gt=0, lt=1)
    epsilon: float = Field(default=1e-4, gt=0, lt=0.01)

    @model_validator(mode="after")
    def _ordered(self) -> DriftSettings:
        if self.psi_warn > self.psi_alert:
            raise ValueError(f"psi_warn {self.psi_warn} is above psi_alert {self.psi_alert}")
        return self


class ScoreSettings(_Section):
    """Live metrics from true labels: how far below training they may fall."""

    tolerance: float = Field(default=0.05, ge=0)


class MonitoringSettings(_Section):
    """Prediction log, reference profile, drift and live scores."""

    log: PredictionLogSettings = PredictionLogSettings()
    profile: ProfileSettings = ProfileSettings()
    drift: DriftSettings = DriftSettings()
    scores: ScoreSettings = ScoreSettings()


class EmailSettings(_Section):
    """Reports by SMTP; off until ``host`` and ``recipients`` are set. The password comes
    from the environment only (SMTP_PASSWORD_ENV), so params.yaml holds no secret."""

    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    sender: str = ""
    recipients: tuple[str, ...] = ()
    timeout: float = Field(default=30.0, gt=0)
    # A PEM file of the certificate authority that signed the mail server's certificate
    # (a company's own CA); empty: the system's trusted CAs. Verification is never off.
    ca_file: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.host and self.recipients)


class WebhookSettings(_Section):
    """Reports as a JSON POST ``{"text": ...}`` (Slack, Teams and most chats take it)."""

    url: str = Field(default="", pattern=r"^(https?://\S+)?$")
    timeout: float = Field(default=10.0, gt=0)


class NotifySettings(_Section):
    """Where ``make retrain NOTIFY=1`` and ``make drift NOTIFY=1`` send their report."""

    subject_prefix: str = ""
    email: EmailSettings = EmailSettings()
    webhook: WebhookSettings = WebhookSettings()


class Settings(BaseSettings):
    """The whole of params.yaml, validated; ``root`` is the folder that holds it."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix=f"{ENV_PREFIX}__",
        env_prefix_target="all",  # the prefix applies to the schema section (an alias) too
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    root: Path
    paths: PathSettings
    data: DataSettings = DataSettings()
    feature_schema: FeatureSchema = Field(alias="schema")
    split: SplitSettings
    model: ModelSettings
    evaluate: EvaluateSettings = EvaluateSettings()
    tune: TuneSettings = TuneSettings()
    serving: ServingSettings = ServingSettings()
    registry: RegistrySettings = RegistrySettings()
    inference: InferenceSettings = InferenceSettings()
    batch: BatchSettings = BatchSettings()
    dashboard: DashboardSettings = DashboardSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    notify: NotifySettings = NotifySettings()

    @model_validator(mode="after")
    def _logged_columns_exist(self) -> Settings:
        named = [*self.monitoring.log.exclude, *self.monitoring.log.hash]
        unknown = sorted(set(named) - set(self.feature_schema.features))
        if unknown:
            raise ValueError(
                f"monitoring.log.exclude/hash name columns that are not features: {unknown}"
            )
        return self

    def with_paths(self, **changes: Path) -> Settings:
        """Return a copy with some paths replaced (tests use it to write into a temp dir)."""
        return self.model_copy(update={"paths": self.paths.model_copy(update=changes)})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment beats params.yaml (the init values); no .env file, no secrets."""
        return EnvOverrides(settings_cls), init_settings


def default_params_path() -> Path:
    """Where params.yaml is: the env override, else the project that holds this package."""
    if os.environ.get(PARAMS_ENV):
        return Path(os.environ[PARAMS_ENV]).expanduser().resolve()
    source_tree_root = Path(__file__).resolve().parents[2]
    if (source_tree_root / PARAMS_FILE).is_file():
        return source_tree_root / PARAMS_FILE
    return Path.cwd() / PARAMS_FILE


def load_settings(
    params_path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read params.yaml, override it from ``environ`` (default os.environ), validate, resolve."""
    path = Path(params_path) if params_path else default_params_path()
    raw = _read_yaml(path)
    root = path.resolve().parent
    reading = ENVIRON.set(os.environ if environ is None else environ)
    try:
        settings = Settings(**raw, root=root)
    except OverrideError as error:
        raise ConfigError(str(error)) from None
    except ValidationError as error:
        raise ConfigError(_describe(error, path)) from None
    finally:
        ENVIRON.reset(reading)
    resolved = {
        name: value if value.is_absolute() else root / value
        for name, value in settings.paths.model_dump().items()
    }
    return settings.with_paths(**resolved)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            f"{path} not found: run from the project folder or set {PARAMS_ENV} to its path"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of sections, got {type(raw).__name__}")
    if "root" in raw:
        raise ConfigError(f"{path}: 'root' is reserved (it is the folder holding params.yaml)")
    return raw


def _describe(error: ValidationError, path: Path) -> str:
    """One line per problem, naming the key as in params.yaml and any variable that set it."""
    lines = [f"{path} has {error.error_count()} problem(s):"]
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"])
        key = ".".join(loc).replace("feature_schema", "schema") or "(top level)"
        hint = " (unknown key: check its spelling)" if item["type"] == "extra_forbidden" else ""
        setters = variables_setting(loc, prefix=f"{ENV_PREFIX}__")
        source = f" (set by {', '.join(setters)})" if setters else ""
        lines.append(f"  {key}: {item['msg']}{hint}{source}")
    return "\n".join(lines)
