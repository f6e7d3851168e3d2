"""Speed and memory of `threatwatch evaluate --file` and `threatwatch classify --file --jsonl --no-explain`.

Writes a labelled CSV of ``--rows`` rows (texts and labels of the realistic stream set and of every CSV
under `labelled_data/`, shuffled once and cycled), then runs each command in its own process by
calling the CLI's own command function (stdout to /dev/null; `evaluate` with ``--out`` so the
misclassified rows, figures and report are part of the cost). The model is loaded before the clock
starts (the CLI reuses the process's loaded model). Prints rows/s per command and the process's peak
RSS (`resource.getrusage`) after the model load and at the end: streaming in batches keeps the second
close to the first whatever the file's length.

    THREATWATCH_MODEL_DIR=models python benchmarks/evaluate_file.py [--rows 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from threatwatch.classify.evaluation.suites import STREAM_DIR, STREAM_FILE
from threatwatch.config import get_settings
from threatwatch.registry import load_classifier

COMMANDS = ("evaluate", "classify")


def labelled_pool(data_dir: Path, seed: int = 7) -> list[tuple[str, str]]:
    """(text, label) of the stream set and of every labelled CSV, shuffled."""
    files = [data_dir / STREAM_DIR / STREAM_FILE, *sorted(data_dir.glob("*.csv"))]
    pool: list[tuple[str, str]] = []
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            pool.extend((row["text"], row["label"]) for row in csv.DictReader(handle))
    random.Random(seed).shuffle(pool)
    return pool


def write_rows(path: Path, rows: int) -> None:
    pool = labelled_pool(get_settings().labelled_data_dir)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(rows):
            writer.writerow(pool[i % len(pool)])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_command(command: str, path: Path, out: Path) -> dict[str, Any]:
    """One command, in this process, through the CLI's command function."""
    from threatwatch.cli import classifier as cli

    settings = get_settings()
    started = time.perf_counter()
    load_classifier(settings.model_dir, settings.model_name, cache_dir=settings.cache_dir)
    loaded, rss_loaded = time.perf_counter(), peak_rss_mb()
    with Path(os.devnull).open("w") as devnull, contextlib.redirect_stdout(devnull):
        if command == "evaluate":
            cli.evaluate(
                model=None,
                file=path,
                text_column="text",
                label_column=None,
                label_map=None,
                prevalence=None,
                out=out,
            )
        else:
            cli.classify(texts=None, file=path, text_column="text", jsonl=True, explain=False)
    seconds = time.perf_counter() - loaded
    return {
        "command": command,
        "load_s": loaded - started,
        "seconds": seconds,
        "rss_after_load_mb": rss_loaded,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="write the CSV and the report here and keep them")
    parser.add_argument("--command", choices=COMMANDS, help=argparse.SUPPRESS)  # one run, in a child
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.command:
        result = run_command(args.command, args.file, args.file.parent / "report")
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "rows.csv"
        write_rows(path, args.rows)
        size = path.stat().st_size / 1e6
        print(f"{args.rows:,} rows, {size:.1f} MB: {path}", flush=True)
        for command in COMMANDS:
            child = subprocess.run(
                [sys.executable, __file__, "--command", command, "--file", str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
            if child.returncode:
                sys.exit(f"{command} failed:\n{child.stderr[-3000:]}")
            r = json.loads(child.stdout.strip().splitlines()[-1])
            label = (
                "evaluate --file --out" if command == "evaluate" else "classify --file --jsonl --no-explain"
            )
            print(
                f"{label:<38} {args.rows / r['seconds']:8.1f} rows/s ({r['seconds']:.1f} s; model load "
                f"{r['load_s']:.1f} s)  peak RSS {r['peak_rss_mb']:.0f} MB "
                f"(after model load {r['rss_after_load_mb']:.0f} MB)",
                flush=True,
            )


if __name__ == "__main__":
    main()
