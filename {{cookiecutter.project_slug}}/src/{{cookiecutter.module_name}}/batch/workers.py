"""The model on a cluster's workers: a reference that travels, and one load per process.

A loaded model holds an onnxruntime ``InferenceSession``, which cannot be pickled, so a
distributed engine (Dask, Spark) sends its tasks a ``ModelRef``: where the version the
driver chose lies, and the sha256 it was certified with. Each worker process loads and
verifies that version the first time a task needs it and keeps it for the next ones.
``score_partition`` is the task itself: one partition checked and scored, its rows
numbered from 1 (the driver adds the rows of the partitions before it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from {{ cookiecutter.module_name }}.batch.chunks import (
    ScoredChunk,
    score_chunk,
)
from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.prediction.loader import (
    ModelLoadError,
    load_model,
)
from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.prediction.store import ModelStore


@dataclass(frozen=True)
class ModelRef:
    """What a worker needs to load the driver's model: picklable and hashable.

    ``registry`` and ``version`` name a stored version; without a registry, ``model`` and
    ``metadata`` are the last trained model's files (``serving.serve_unpromoted``). Paths
    must be readable from every worker: a shared folder, or the bundle shipped with the job.
    """

    version: str
    sha256: str
    registry: str | None
    model: str | None
    metadata: str | None
    trusted: tuple[str, ...]
    runtime: str
    # The store's place inside a bundle shipped with a Spark job, where ``registry`` is
    # not on the executor (spark_engine.py).
    shipped: str | None = None

    def load(self) -> LoadedModel:
        """Load and verify the version; refuse it if it is not the one the driver chose."""
        if self.registry is not None:
            store = ModelStore(Path(self.registry))
            model = store.load_version(self.version, self.trusted, self.runtime)
        else:
            model = load_model(
                Path(str(self.model)), Path(str(self.metadata)), self.trusted, runtime=self.runtime
            )
        if model.metadata["artifact"]["sha256"] != self.sha256:
            raise ModelLoadError(
                f"model {model.version} on this worker is not the one the run started with "
                f"(sha256 {self.sha256[:12]}...): was the model retrained or the store changed "
                "during the run? Score again."
            )
        return model


def model_ref(model: LoadedModel, settings: Settings) -> ModelRef:
    """The reference to ``model``, loaded by ``load_served_model`` from ``settings``."""
    from_store = (model.metadata.get("serving") or {}).get("source") == "registry"
    return ModelRef(
        version=model.version,
        sha256=str(model.metadata["artifact"]["sha256"]),
        registry=str(settings.paths.registry) if from_store else None,
        model=None if from_store else str(settings.paths.model),
        metadata=None if from_store else str(settings.paths.metadata),
        trusted=tuple(settings.serving.trusted_types),
        runtime=settings.inference.runtime,
    )


_loaded: dict[ModelRef, LoadedModel] = {}
_loading = threading.Lock()  # a worker runs tasks in threads: load once, not once per thread


def worker_model(ref: ModelRef) -> LoadedModel:
    """The model ``ref`` names, loaded and verified once per process."""
    with _loading:
        if ref not in _loaded:
            _loaded.clear()  # a new run's model replaces the last one: memory stays one model
            _loaded[ref] = ref.load()
        return _loaded[ref]


def score_partition(frame: pd.DataFrame, ref: ModelRef, id_columns: Sequence[str]) -> ScoredChunk:
    """Check and score one partition with the worker's model; rows numbered from 1."""
    return score_chunk(worker_model(ref), frame, first_row=1, id_columns=id_columns)


def shift_rows(result: ScoredChunk, offset: int) -> ScoredChunk:
    """``result`` with each row number moved by ``offset`` (the rows of earlier partitions)."""
    return ScoredChunk(
        predictions=result.predictions.assign(row=result.predictions["row"] + offset),
        errors=result.errors.assign(row=result.errors["row"] + offset),
    )
