"""The retrain report, as Markdown (a CI job summary, a chat post) and as one HTML page (mail).

Both are rendered from the same blocks, so they always say the same thing. Text marks
commands with backticks; the HTML turns them into ``<code>``. No timestamp goes in: the
report names the commits and data hashes, and the CI run or cron log says when.
"""

from __future__ import annotations

import html
import re
from typing import Any

from {{ cookiecutter.module_name }}.config import Settings
from {{ cookiecutter.module_name }}.registry.outcome import (
    ModelFacts,
    Outcome,
)
from {{ cookiecutter.module_name }}.scoring import (
    greater_is_better,
)
from {{ cookiecutter.module_name }}.storage import atomic_write

Block = tuple[str, Any]
HEADLINES = {
    "registered": "candidate registered, awaiting approval",
    "unchanged": "nothing new",
    "unregistered": "candidate ready, not registered yet",
    "worse": "candidate worse than prod, not registered",
    "failed": "FAILED, prod untouched",
}
_CODE = re.compile(r"`([^`]+)`")


def _facts_rows(models: list[ModelFacts]) -> list[list[str]]:
    rows = [["model", *[model.name for model in models]]]
    rows.append(["git commit", *[model.shown_commit() for model in models]])
    rows.append(
        [
            "data (md5)",
            *[
                ", ".join(f"{path} {md5[:8]}" for path, md5 in model.data.items()) or "unknown"
                for model in models
            ],
        ]
    )
    rows.append(
        [
            "rows (train / test)",
            *[
                f"{model.rows['train']} / {model.rows['test']}" if model.rows else "unknown"
                for model in models
            ],
        ]
    )
    return rows


def _metrics_rows(outcome: Outcome, gate_metric: str) -> list[list[str]]:
    candidate, champion = outcome.candidate, outcome.champion
    assert candidate is not None
    header = ["metric (same holdout)", candidate.name]
    if champion:
        header += [champion.name, "change"]
    rows = [header]
    for name, value in candidate.scores.items():
        label = f"{name} (gate)" if name == gate_metric else name
        row = [label, f"{value:.4f}"]
        if champion:
            other = champion.scores[name]
            row += [f"{other:.4f}", f"{value - other:+.4f}"]
        rows.append(row)
    return rows


def finding(outcome: Outcome) -> str:
    """The comparison in one sentence: which model scores better, by how much."""
    comparison, champion = outcome.comparison, outcome.champion
    if comparison is None or comparison.champion is None or champion is None:
        return ""
    change = comparison.candidate - comparison.champion
    way = "better than" if change > 0 else "worse than" if change < 0 else "the same as"
    return (
        f"On the same holdout the candidate's {comparison.metric} is {comparison.candidate:.4f}, "
        f"{way} {champion.name}'s {comparison.champion:.4f} ({change:+.4f})."
    )


def blocks(settings: Settings, outcome: Outcome) -> list[Block]:
    """The report's content, in order, independent of the output format."""
    artifact = settings.registry.artifact
    content: list[Block] = [
        ("h1", f"Retrain of {artifact}: {HEADLINES[outcome.status]}"),
        ("p", outcome.summary),
    ]
    if outcome.status != "worse" and finding(outcome):  # a worse summary says it already
        content.append(("p", finding(outcome)))
    if outcome.pulled:
        content.append(("p", f"Data: {outcome.pulled}"))
    comparison = outcome.comparison
    if outcome.candidate is not None and comparison is not None:
        content.append(("h2", "Candidate and champion"))
        models = [outcome.candidate, *([outcome.champion] if outcome.champion else [])]
        content.append(("table", _facts_rows(models)))
        content.append(("table", _metrics_rows(outcome, comparison.metric)))
        if comparison.champion_problem:
            verdict = f"Gate: cannot compare: {comparison.champion_problem}."
        elif comparison.champion is None:
            verdict = (
                f"Gate: passed: no model is in prod yet, so there is nothing to compare "
                f"with (candidate {comparison.metric} {comparison.candidate:.4f})."
            )
        else:
            verdict = (
                f"Gate: {'passed' if comparison.passed else 'refused'}: candidate "
                f"{comparison.metric} {comparison.candidate:.4f} vs prod "
                f"{comparison.champion:.4f}; a candidate more than registry.tolerance "
                f"{comparison.tolerance} {_worse_side(comparison.metric)} prod is refused."
            )
        content.append(("p", verdict))
        if outcome.champion_source:
            content.append(("p", f"Prod model read from {outcome.champion_source}."))
    if outcome.log_tail:
        content.append(("h2", f"End of the {outcome.failed_step} step's output"))
        content.append(("code", "\n".join(outcome.log_tail)))
    content.append(("h2", "Next"))
    content.append(("list", list(outcome.next_steps)))
    return content


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(content: list[Block]) -> str:
    """GitHub-flavoured Markdown (tables render in job summaries and most chats)."""
    parts = []
    for kind, value in content:
        if kind == "h1":
            parts.append(f"# {value}")
        elif kind == "h2":
            parts.append(f"## {value}")
        elif kind == "p":
            parts.append(str(value))
        elif kind == "list":
            parts.append("\n".join(f"- {item}" for item in value))
        elif kind == "code":
            parts.append(f"```text\n{value}\n```")
        elif kind == "table":
            header, *rows = value
            lines = [
                "| " + " | ".join(_md_cell(cell) for cell in header) + " |",
                "|" + "---|" * len(header),
                *["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows],
            ]
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _inline(text: str) -> str:
    return _CODE.sub(r"<code>\1</code>", html.escape(text))


def to_html(content: list[Block]) -> str:
    """One self-contained page (inline style), safe to mail: every text is escaped."""
    title = next((str(value) for kind, value in content if kind == "h1"), "Retrain")
    body = []
    for kind, value in content:
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{_inline(str(value))}</{kind}>")
        elif kind == "list":
            items = "".join(f"<li>{_inline(item)}</li>" for item in value)
            body.append(f"<ul>{items}</ul>")
        elif kind == "code":
            body.append(f"<pre>{html.escape(str(value))}</pre>")
        elif kind == "table":
            header, *rows = value
            head = "".join(f"<th>{_inline(cell)}</th>" for cell in header)
            cells = "".join(
                "<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>"
                for row in rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    style = (
        "body{font-family:sans-serif;max-width:60em}"
        "table{border-collapse:collapse;margin:1em 0}"
        "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
        "pre{background:#f6f6f6;padding:.6em;overflow-x:auto}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{style}</style></head>\n"
        "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def write(settings: Settings, outcome: Outcome) -> None:
    """Write both reports atomically (a mail job never picks up half a report)."""
    content = blocks(settings, outcome)
    for path, text in (
        (settings.paths.retrain_report, to_markdown(content)),
        (settings.paths.retrain_report_html, to_html(content)),
    ):
        atomic_write(
            path, lambda temporary, text=text: temporary.write_text(text, encoding="utf-8")
        )


def _worse_side(metric: str) -> str:
    """``below`` for a score, ``above`` for an error (scikit-learn's direction)."""
    return "below" if greater_is_better(metric) else "above"
