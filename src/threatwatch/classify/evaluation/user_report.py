"""The HTML report of an evaluation on a user's file: one self-contained page (figures embedded as
data: URIs, no external resources), with the PNG files and ``misclassified.csv`` beside it."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from threatwatch.classify.evaluation.evaluate import format_evaluation
from threatwatch.classify.training.plots import write_card_plots
from threatwatch.domain import LABELS

if TYPE_CHECKING:
    from threatwatch.classify.evaluation.user_data import FileEvaluation, ScoredRows

REPORT_FILE = "report.html"
FIGURE_CAPTIONS = ("precision-recall curves", "confusion matrix", "reliability diagram")
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
pre { background: #f5f5f5; padding: .75rem; overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
td, th { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
figure { display: inline-block; margin: 0 1rem 1rem 0; }
img { max-width: 100%; }
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figures(out_dir: Path, report: FileEvaluation, scored: ScoredRows) -> str:
    """The card's three figures for the scored rows, written beside the report and embedded in it."""
    names = np.asarray([label.value for label in LABELS])
    files = write_card_plots(
        out_dir,
        scored.probabilities.astype(np.float64),
        names[scored.gold],
        names[scored.predicted],
        title=report.path.name,
    )
    parts = []
    for file, caption in zip(files, FIGURE_CAPTIONS, strict=True):
        data = base64.b64encode((out_dir / file).read_bytes()).decode("ascii")
        parts.append(
            f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>"
        )
    return "\n".join(parts)


def write_report(out_dir: Path, report: FileEvaluation, scored: ScoredRows) -> Path:
    """Write ``report.html`` (and the figures, when the file was scored) into ``out_dir``."""
    from threatwatch.classify.evaluation.user_data import MISCLASSIFIED_FILE, format_distribution

    sections = [
        f"<h1>Evaluation of {escape(report.model_version)} on {escape(report.path.name)}</h1>",
        f"<p>{report.rows:,} rows read in {report.seconds:.0f} s.</p>",
    ]
    if report.mapping:
        sections.append("<h2>Labels mapped</h2>")
        sections.append(_table(["your label", "our label"], [[k, v] for k, v in report.mapping.items()]))
    if report.unmapped:
        sections.append(
            "<h2>Left out of scoring</h2><p>Rows whose label is neither ours (threat, coercion, doxxing, "
            "abuse, none) nor mapped with <code>--map</code>:</p>"
        )
        sections.append(
            _table(
                ["label", "rows"], [[label or "(empty)", f"{n:,}"] for label, n in report.unmapped.items()]
            )
        )
    sections.append(f"<h2>Predicted labels</h2><p>{escape(format_distribution(report.predicted_counts))}</p>")
    if report.evaluation is not None:
        sections.append(f"<h2>Scores ({report.evaluation.n:,} rows)</h2>")
        sections.append(f"<pre>{escape(format_evaluation(report.evaluation))}</pre>")
        sections.append(_figures(out_dir, report, scored))
        sections.append(
            f'<p>{report.misclassified:,} misclassified rows: <a href="{MISCLASSIFIED_FILE}">'
            f"{MISCLASSIFIED_FILE}</a> (line, text, gold, predicted, score of the predicted label).</p>"
        )
    elif report.labelled:
        sections.append("<p>No row has a usable label: nothing scored.</p>")
    else:
        sections.append(
            f"<p>No label column <code>{escape(report.label_column)}</code>: predictions only.</p>"
            f"<h2>{len(report.most_confident_flagged)} most confident flagged rows</h2>"
        )
        sections.append(
            _table(
                ["line", "label", "score", "text"],
                [[str(r.line), r.label, f"{r.score:.3f}", r.text] for r in report.most_confident_flagged],
            )
        )
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>threatwatch evaluation: {escape(report.path.name)}</title>"
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
    path = out_dir / REPORT_FILE
    path.write_text(page, encoding="utf-8")
    return path
