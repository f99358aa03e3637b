"""The outcome of one retrain: what its report shows and the exit code of ``make retrain``.

Its own module so that ``report.py`` (which renders an outcome) and ``retrain.py`` (which
produces one, then has it rendered) both import it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from {{ cookiecutter.module_name }}.prediction.model import LoadedModel
from {{ cookiecutter.module_name }}.registry.gate import Comparison

# Exit codes of `python -m ... registry retrain --check` (`make retrain-check`; 2 is
# argparse's usage error). Without --check (`make retrain`, run by a person) a worse
# candidate is a verdict said in words, exit 0; only a failed step exits 1.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_WORSE = 3


@dataclass(frozen=True)
class ModelFacts:
    """What the report says about one model."""

    name: str
    commit: str | None
    data: dict[str, str]
    scores: dict[str, float]
    rows: dict[str, int] = field(default_factory=dict)
    # Trained on a tree with uncommitted changes: ``commit`` is only what they were made on.
    uncommitted: bool = False

    def shown_commit(self) -> str:
        """The commit as a person should read it: never a commit that did not make it."""
        if self.uncommitted:
            on = f" on {self.commit[:12]}" if self.commit else ""
            return f"uncommitted changes{on}"
        return (self.commit or "unknown")[:12]


@dataclass(frozen=True)
class Outcome:
    """The result of one retrain: what the report shows and the exit code."""

    status: str  # registered | unchanged | unregistered | worse | failed
    summary: str
    next_steps: tuple[str, ...] = ()
    pulled: str = ""
    candidate: ModelFacts | None = None
    champion: ModelFacts | None = None
    comparison: Comparison | None = None
    failed_step: str | None = None
    log_tail: tuple[str, ...] = ()
    version: str | None = None
    champion_source: str = ""

    @property
    def exit_code(self) -> int:
        """For ``--check``: 0 registered (or ready to be, or already), 3 worse than prod,
        1 failed."""
        return {"failed": EXIT_FAILED, "worse": EXIT_WORSE}.get(self.status, EXIT_OK)


def facts(model: LoadedModel, name: str, scores: dict[str, float]) -> ModelFacts:
    """Commit, data hashes and rows of a model, from its metadata."""
    metadata = model.metadata
    lineage, source = metadata.get("lineage", {}), metadata.get("source", {})
    return ModelFacts(
        name=name,
        commit=lineage.get("git_commit") or source.get("git_commit"),
        data=lineage.get("data") or source.get("data_md5") or {},
        scores=scores,
        rows=metadata.get("metrics", {}).get("rows", {}),
        # A registered version names its own commit; a fresh candidate only the commit its
        # training ran on, which did not make it if the tree had changes (dvc repro's own
        # dvc.lock among them).
        uncommitted=not lineage.get("git_commit") and bool(source.get("git_dirty")),
    )


def failed(
    step_name: str, detail: str, log_tail: tuple[str, ...], progress: dict[str, Any]
) -> Outcome:
    """The outcome of a retrain stopped at ``step_name``: prod was not touched."""
    return Outcome(
        status="failed",
        summary=f"Retrain failed at the {step_name} step: {detail}",
        next_steps=(
            "Prod is untouched: no version was registered or promoted.",
            "Fix the cause above, then run `make retrain` again.",
        ),
        failed_step=step_name,
        log_tail=log_tail,
        **progress,
    )
