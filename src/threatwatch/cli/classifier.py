"""`threatwatch classify`, `train`, `evaluate`: the classifier."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from threatwatch.cli._common import app, console, err, fail
from threatwatch.config import get_settings


@app.command()
def classify(
    texts: Annotated[list[str] | None, typer.Argument(help="Messages to classify.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="CSV, or text file with one message per line.")
    ] = None,
    text_column: Annotated[str, typer.Option(help="CSV column holding the text.")] = "text",
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per input row, in order.")] = False,
) -> None:
    """Classify messages with the live model; flagged ones come with the words that drove the decision."""
    from threatwatch.classify import ModelNotFoundError, load_classifier
    from threatwatch.classify.inputs import InputError, read_texts

    if file is not None and texts:
        raise fail("give texts or --file, not both", 2)
    if file is not None:
        try:
            inputs = read_texts(file, text_column=text_column)
        except InputError as exc:
            raise fail(str(exc), 2) from None
    else:
        inputs = [t for t in (texts or [])]
        if not inputs:
            raise fail("nothing to classify: give one or more texts, or --file PATH", 2)
        if any(not t.strip() for t in inputs):
            raise fail("empty text given", 2)
    settings = get_settings()
    try:
        with err.status("loading the model"):
            classifier = load_classifier(
                settings.model_dir, settings.model_name, cache_dir=settings.cache_dir
            )
    except ModelNotFoundError as exc:
        raise fail(str(exc)) from None
    results = classifier.predict(inputs)
    if jsonl:
        for result in results:
            sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        return
    table = Table(
        "label", "flagged", "score", "text", "why", show_lines=True, title=f"model {classifier.version}"
    )
    for text, result in zip(inputs, results, strict=True):
        why = ", ".join(f"{s.text} ({s.weight:+.2f})" for s in result.explanation)
        style = "bold red" if result.flagged else ""
        table.add_row(
            f"[{style}]{result.label.value}[/]" if style else result.label.value,
            "yes" if result.flagged else "no",
            f"{result.scores[result.label.value]:.2f}",
            text,
            why,
        )
    console.print(table)


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

    from threatwatch.classify.evaluate import format_evaluation
    from threatwatch.classify.fast import FastTrainingArguments
    from threatwatch.classify.train import train_cascade_model, train_fast_model

    if stage not in ("cascade", "fast"):
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

        if stage == "fast":
            report = train_fast_model(
                data_dir=settings.labelled_data_dir,
                model_dir=settings.model_dir,
                args=fast_args,
                progress=progress,
            )
        else:
            from threatwatch.classify.transformer import TransformerTrainingArguments

            report = train_cascade_model(
                data_dir=settings.labelled_data_dir,
                model_dir=settings.model_dir,
                cache_dir=settings.cache_dir,
                fast_args=fast_args,
                transformer_args=TransformerTrainingArguments(seed=seed),
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
) -> None:
    """Evaluate a model on the fixed test split, the functional suite and the realistic stream set; print
    P/R/F1, the confusion matrix, pass rates per functionality and false flags per 1,000 ordinary posts;
    rewrite its card."""
    from threatwatch.classify.card import read_description, write_model_card
    from threatwatch.classify.data import load_labelled_data
    from threatwatch.classify.evaluate import format_evaluation
    from threatwatch.classify.registry import ModelNotFoundError, current_model_path, load_model
    from threatwatch.classify.suites import format_functional, format_stream

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
