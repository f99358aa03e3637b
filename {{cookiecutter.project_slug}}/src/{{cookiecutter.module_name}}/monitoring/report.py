"""The drift report as one self-contained HTML page: the findings in words and what to
do, a summary table and, per feature (drifted ones first), bars of the training and live
shares drawn as inline SVG (no scripts, no network, no plotting library), so it can be
mailed, archived or opened offline."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from {{ cookiecutter.module_name }}.storage import (
    atomic_write,
)

WIDTH, HEIGHT, PAD = 640, 190, 30
_CODE = re.compile(r"`([^`]+)`")
COLOURS = {"training": "#9aa5b1", "live": "#2f6fde"}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; max-width: 60rem; }
table { border-collapse: collapse; margin: 1rem 0; }
td, th { border-bottom: 1px solid #d9dee3; padding: 0.3rem 0.8rem; text-align: left; }
.drift { color: #b42318; font-weight: bold; } .warn { color: #b54708; } .ok { color: #067647; }
svg text { font-size: 10px; fill: #3e4c59; } .legend span { margin-right: 1rem; }
"""


def render(report: dict[str, Any]) -> str:
    """The page for one drift report (as ``drift.compare`` returns it)."""
    verdict = "Drift detected" if report["drift_detected"] else "No drift detected"
    current = report["current"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Drift report: model {escape(report['model_version'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{verdict}</h1>",
        _findings(report),
        f"<p>Model <b>{escape(report['model_version'])}</b>: {current['rows']} logged records "
        f"({escape(str(current['first']))} to {escape(str(current['last']))}) against "
        f"{report['reference']['rows']} training rows.</p>",
        _thresholds(report["thresholds"]),
        _summary(report),
        _legend(),
        _section(
            "Predictions", _prediction_kind(report), report["prediction"], _prediction_bins(report)
        ),
    ]
    features = sorted(report["features"].items(), key=lambda item: not item[1]["drifted"])
    for name, feature in features:
        parts.append(_section(name, feature["kind"], feature, feature["bins"]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(path: Any, report: dict[str, Any]) -> None:
    """Write the page atomically."""
    text = render(report)
    atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def _inline(text: str) -> str:
    """Escaped text; commands in backticks become ``<code>``."""
    return _CODE.sub(r"<code>\1</code>", escape(text))


def _findings(report: dict[str, Any]) -> str:
    """The sentences first (what moved, how much, since when), then what to do."""
    found = "".join(f"<p>{_inline(line)}</p>" for line in report.get("findings", []))
    steps = report.get("next_steps", [])
    if steps:
        items = "".join(f"<li>{_inline(step)}</li>" for step in steps)
        found += f"<h2>What to do</h2><ul>{items}</ul><h2>The numbers</h2>"
    return found


def _thresholds(thresholds: dict[str, Any]) -> str:
    shown = ", ".join(
        f"{escape(key)} {'none' if value is None else escape(str(value))}"
        for key, value in thresholds.items()
    )
    return f"<p>Thresholds (monitoring.drift in params.yaml): {shown}.</p>"


def _summary(report: dict[str, Any]) -> str:
    rows = [
        "<table><tr><th>Feature</th><th>Kind</th><th>PSI</th><th>KS statistic</th>"
        "<th>KS p-value</th><th>Status</th></tr>"
    ]
    for name, feature in report["features"].items():
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{feature['kind']}</td><td>{feature['psi']:.4f}</td>"
            f"<td>{_number(feature['ks_statistic'])}</td><td>{_number(feature['ks_pvalue'])}</td>"
            f'<td class="{feature["status"]}">{feature["status"]}</td></tr>'
        )
    prediction = report["prediction"]
    rows.append(
        f"<tr><td><i>predictions</i></td><td>{_prediction_kind(report)}</td>"
        f"<td>{prediction['psi']:.4f}</td><td>{_number(prediction.get('ks_statistic'))}</td>"
        f"<td>{_number(prediction.get('ks_pvalue'))}</td>"
        f'<td class="{prediction["status"]}">{prediction["status"]}</td></tr>'
    )
    for name, reason in report.get("skipped", {}).items():
        rows.append(
            f'<tr><td>{escape(name)}</td><td colspan="5">skipped: {escape(reason)}</td></tr>'
        )
    rows.append("</table>")
    return "\n".join(rows)


def _legend() -> str:
    return (
        '<p class="legend">'
        + "".join(
            f'<span><svg width="10" height="10"><rect width="10" height="10" '
            f'fill="{colour}"/></svg> {name}</span>'
            for name, colour in COLOURS.items()
        )
        + "</p>"
    )


def _prediction_kind(report: dict[str, Any]) -> str:
    """``classes``, or ``values`` for a regressor's predictions (numeric bins)."""
    return "values" if report["prediction"].get("kind") == "numeric" else "classes"


def _prediction_bins(report: dict[str, Any]) -> dict[str, list[Any]]:
    prediction = report["prediction"]
    if "bins" in prediction:  # a regressor's values, in the profile's quantile bins
        return prediction["bins"]
    labels = list(dict.fromkeys([*prediction["reference"], *prediction["current"]]))
    return {
        "labels": labels,
        "reference": [prediction["reference"].get(label, 0.0) for label in labels],
        "current": [prediction["current"].get(label, 0.0) for label in labels],
    }


def _section(name: str, kind: str, result: dict[str, Any], bins: dict[str, list[Any]]) -> str:
    return (
        f'<h2>{escape(name)} <small class="{result["status"]}">{kind}, PSI '
        f"{result['psi']:.4f}, {result['status']}</small></h2>\n{_bars(bins)}"
    )


def _bars(bins: dict[str, list[Any]]) -> str:
    """Grouped bars (training, live) per bin; heights are shares of the records."""
    labels = bins["labels"]
    tallest = max([*bins["reference"], *bins["current"], 1e-9])
    slot = (WIDTH - 2 * PAD) / max(len(labels), 1)
    bar = slot * 0.38
    plot = HEIGHT - 2 * PAD
    shapes = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="training and live shares per bin">'
    ]
    for index, label in enumerate(labels):
        left = PAD + index * slot + slot * 0.1
        for offset, (series, key) in enumerate((("training", "reference"), ("live", "current"))):
            share = float(bins[key][index])
            height = plot * share / tallest
            shapes.append(
                f'<rect x="{left + offset * bar:.1f}" y="{PAD + plot - height:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}" fill="{COLOURS[series]}">'
                f"<title>{escape(str(label))} {series}: {100 * share:.1f}%</title></rect>"
            )
        shown = str(label) if len(str(label)) <= 14 else str(label)[:13] + "…"
        shapes.append(
            f'<text x="{left + bar:.1f}" y="{HEIGHT - PAD + 14}" text-anchor="middle">'
            f"{escape(shown)}</text>"
        )
    shapes.append(
        f'<line x1="{PAD}" y1="{PAD + plot}" x2="{WIDTH - PAD}" y2="{PAD + plot}" stroke="#52606d"/>'
    )
    shapes.append("</svg>")
    return "\n".join(shapes)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
