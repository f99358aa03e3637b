"""The retrain report as a notification: the report's own Markdown and HTML, and a
subject with the verdict and the gate metric (``make retrain NOTIFY=1``)."""

from __future__ import annotations

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.notify.report import Report
from {{ cookiecutter.module_name }}.registry import report
from {{ cookiecutter.module_name }}.registry.outcome import Outcome


def key_numbers(outcome: Outcome) -> str:
    """The gate metric of the candidate and of prod, e.g. ``f1_macro 0.9712 vs prod 0.9650``."""
    comparison = outcome.comparison
    if comparison is None:
        return ""
    numbers = f"{comparison.metric} {comparison.candidate:.4f}"
    if comparison.champion is not None:
        numbers += f" vs prod {comparison.champion:.4f}"
    return numbers


def retrain_notice(settings: Settings, outcome: Outcome) -> Report:
    """What ``make retrain NOTIFY=1`` sends: the same blocks as reports/retrain.md."""
    content = report.blocks(settings, outcome)
    title = next((str(value) for kind, value in content if kind == "h1"), "Retrain")
    numbers = key_numbers(outcome)
    return Report(
        subject=f"{title} ({numbers})" if numbers else title,
        text=report.to_markdown(content),
        html=report.to_html(content),
        saved=(str(settings.paths.retrain_report), str(settings.paths.retrain_report_html)),
    )
