"""`threatwatch classify`, `train`, `evaluate`: the classifier."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from threatwatch.cli._common import app, console, err, fail
from threatwatch.config import get_settings


@contextmanager
def _file_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr in lines of the input file; yields the callback that moves it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TextColumn("lines"), console=err) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@app.command()
def classify(
    texts: Annotated[list[str] | None, typer.Argument(help="Messages to classify.")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="CSV, JSON lines, or text file with one message per line."),
    ] = None,
    text_column: Annotated[str, typer.Option(help="CSV column (JSON field) holding the text.")] = "text",
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per input row, in order.")] = False,
    explain: Annotated[
        bool, typer.Option("--explain/--no-explain", help="Explain flagged messages (the slow part).")
    ] = True,
) -> None:
    """Classify messages with the live model; flagged ones come with the words that drove the decision.
    A --file is read and classified in batches of 256 rows, with a progress bar on stderr."""
    from threatwatch.classify import ClassificationResult
    from threatwatch.classify.evaluation.user_data import classify_file
    from threatwatch.classify.inputs import InputError, RowReader
    from threatwatch.registry import ModelNotFoundError, live_classifier

    if file is not None and texts:
        raise fail("give texts or --file, not both", 2)
    reader = None
    inputs = list(texts or [])
    if file is not None:
        try:  # a bad header fails before the model loads; a bad row where the stream reaches it
            reader = RowReader(file, text_column=text_column)
        except InputError as exc:
            raise fail(str(exc), 2) from None
    else:
        if not inputs:
            raise fail("nothing to classify: give one or more texts, or --file PATH", 2)
        if any(not t.strip() for t in inputs):
            raise fail("empty text given", 2)
    settings = get_settings()
    try:
        with err.status("loading the model"):
            classifier = live_classifier(settings)
    except ModelNotFoundError as exc:
        if reader is not None:
            reader.close()
        raise fail(str(exc)) from None

    def show(batch: list[tuple[str, ClassificationResult]], *, first: bool) -> None:
        if jsonl:
            for _, result in batch:
                sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
            return
        table = Table(
            "label",
            "flagged",
            "score",
            "text",
            "why",
            show_lines=True,
            title=f"model {classifier.version}" if first else None,
        )
        for text, result in batch:
            why = ", ".join(f"{s.text} ({s.weight:+.2f})" for s in result.explanation)
            style = "bold red" if result.flagged else ""
            table.add_row(
                f"[{style}]{result.label.value}[/]" if style else result.label.value,
                "yes" if result.flagged else "no",
                f"{result.scores[result.label.value]:.2f}",
                escape(text),
                escape(why),
            )
        console.print(table)

    if reader is None:
        show(list(zip(inputs, classifier.predict(inputs, explain=explain), strict=True)), first=True)
        return
    try:
        with reader, _file_progress("classifying") as progress:
            batches = classify_file(classifier, reader, explain=explain, progress=progress)
            for number, batch in enumerate(batches):
                show([(row.text, result) for row, result in batch], first=number == 0)
    except InputError as exc:
        raise fail(str(exc), 2) from None


@app.command()
def train(
    promote: Annotated[
        bool, typer.Option(help="Make the new model the live one through the registry (row, audit, CURRENT).")
    ] = False,
    stage: Annotated[
        str, typer.Option(help="'cascade' (both stages) or 'fast' (fast stage alone).")
    ] = "cascade",
    seed: int = 13,
    sentence_embeddings: Annotated[
        float,
        typer.Option(
            help="Weight > 0 joins multilingual USE sentence embeddings to the fast stage's n-grams: "
            "a better fast stage alone, ~10x slower; 0 (default) leaves them out."
        ),
    ] = 0.0,
) -> None:
    """Train the classifier from labelled_data/ and write a model directory with metrics and a card."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from threatwatch.classify.evaluation.evaluate import format_evaluation
    from threatwatch.classify.fast import FastTrainingArguments
    from threatwatch.classify.training.train import STAGES, train_model

    if stage not in STAGES:
        raise fail(f"unknown stage {stage!r}: use 'cascade' or 'fast'", 2)
    fast_args = FastTrainingArguments(seed=seed, sentence_embedding_weight=sentence_embeddings)
    settings = get_settings()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err) as bar:
        tasks: dict[str, Any] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        report = train_model(
            stage=stage,
            data_dir=settings.labelled_data_dir,
            model_dir=settings.model_dir,
            cache_dir=settings.cache_dir,
            seed=seed,
            fast_args=fast_args,
            progress=progress,
        )
    console.print(f"model {report.version} written to {report.path} in {report.seconds:.0f} s")
    console.print("[bold]test split[/]")
    console.print(format_evaluation(report.card.test), highlight=False)
    if report.card.functional is not None and report.card.functional.below_floor:
        names = ", ".join(r.name for r in report.card.functional.below_floor)
        console.print(f"[bold red]functional suite below floor:[/] {names}")
    if promote:
        from threatwatch.cli.models import promote_by_hand

        promote_by_hand(report.version, reason=f"trained by hand on {settings.labelled_data_dir.name}/")
        console.print(f"{report.version} is now the live model")


@app.command()
def evaluate(
    model: Annotated[str | None, typer.Option(help="Model directory name; default: the live model.")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Evaluate on your own CSV or JSON lines file instead of the test split (read in batches).",
        ),
    ] = None,
    text_column: Annotated[
        str, typer.Option(help="With --file: the column (field) holding the text.")
    ] = "text",
    label_column: Annotated[
        str | None,
        typer.Option(
            help="With --file: the column holding the gold label; default 'label' where the file has one "
            "(without labels: predicted labels and the most confident flagged rows)."
        ),
    ] = None,
    label_map: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="With --file: your labels onto ours (threat, coercion, doxxing, abuse, none), e.g. "
            "'violent=threat,offensive=abuse,appropriate=none'. Other labels are left out and reported.",
        ),
    ] = None,
    prevalence: Annotated[
        float | None,
        typer.Option(
            help="With --file: the share of flagged messages in your stream, for the flagged precision "
            "it implies (default 0.005: 1 in 200).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="With --file: write report.html (figures embedded) and misclassified.csv here."
        ),
    ] = None,
) -> None:
    """Evaluate a model on the fixed test split, the functional suite and the realistic stream set; print
    P/R/F1, the confusion matrix, pass rates per functionality and false flags per 1,000 ordinary posts;
    rewrite its card. With --file, evaluate on your own labelled file instead (the card is left alone)."""
    if file is not None:
        _evaluate_file(model, file, text_column, label_column, label_map, prevalence, out)
        return
    given = [
        name
        for name, value in (
            ("--label-column", label_column),
            ("--map", label_map),
            ("--prevalence", prevalence),
            ("--out", out),
        )
        if value is not None
    ]
    if given or text_column != "text":
        raise fail(f"{', '.join(given) or '--text-column'} needs --file", 2)
    from threatwatch.classify.evaluation.evaluate import format_evaluation
    from threatwatch.classify.evaluation.suites import format_functional, format_stream
    from threatwatch.classify.training.card import read_description, write_model_card
    from threatwatch.classify.training.data import load_labelled_data
    from threatwatch.registry import ModelNotFoundError, current_model_path, load_model

    settings = get_settings()
    try:
        path = current_model_path(settings.model_dir, model or settings.model_name)
    except ModelNotFoundError as exc:
        raise fail(str(exc)) from None
    with err.status(f"evaluating {path.name}"):
        classifier = load_model(path, cache_dir=settings.cache_dir)
        card = write_model_card(
            path,
            classifier,
            load_labelled_data(settings.labelled_data_dir),
            description=read_description(path) or path.name,
            data_dir=settings.labelled_data_dir,
        )
    console.print(f"[bold]{path.name}: test split[/]")
    console.print(format_evaluation(card.test), highlight=False)
    if card.functional is not None:
        console.print("[bold]functional suite[/]")
        console.print(format_functional(card.functional), highlight=False)
    if card.stream is not None:
        console.print("[bold]realistic stream set[/]")
        console.print(format_stream(card.stream), highlight=False)
    console.print(f"model card: {path / 'README.md'}")


def _evaluate_file(
    model: str | None,
    file: Path,
    text_column: str,
    label_column: str | None,
    label_map: str | None,
    prevalence: float | None,
    out: Path | None,
) -> None:
    from threatwatch.classify.evaluation.user_data import (
        evaluate_file,
        format_file_evaluation,
        parse_label_map,
    )
    from threatwatch.classify.inputs import InputError, RowReader
    from threatwatch.classify.prevalence import STREAM_FLAGGED_SHARE
    from threatwatch.registry import ModelNotFoundError, load_classifier

    try:
        mapping = parse_label_map(label_map)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    if prevalence is not None and not 0 < prevalence < 1:
        raise fail(f"--prevalence is a share between 0 and 1 (0.005 is 1 in 200), got {prevalence}", 2)
    try:  # a bad header fails before the model loads
        RowReader(file, text_column=text_column, label_column=label_column, label_required=True).close()
    except InputError as exc:
        raise fail(str(exc), 2) from None
    settings = get_settings()
    try:
        with err.status("loading the model"):
            classifier = load_classifier(
                settings.model_dir, model or settings.model_name, cache_dir=settings.cache_dir
            )
    except ModelNotFoundError as exc:
        raise fail(str(exc)) from None
    try:
        with _file_progress(f"evaluating {classifier.version}") as progress:
            report = evaluate_file(
                classifier,
                file,
                text_column=text_column,
                label_column=label_column,
                mapping=mapping,
                prevalence=prevalence if prevalence is not None else STREAM_FLAGGED_SHARE,
                out_dir=out,
                progress=progress,
            )
    except InputError as exc:
        raise fail(str(exc), 2) from None
    console.print(format_file_evaluation(report), markup=False, highlight=False, soft_wrap=True)
    if out is not None:
        console.print(f"report: {out / 'report.html'}", markup=False, highlight=False, soft_wrap=True)
