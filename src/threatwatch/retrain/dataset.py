"""Assemble a retraining set: ``labelled_data/`` plus the analysts' labels, minus a held-out window.

Rules, in order:
1. items whose labellers disagree are left out (listed for adjudication);
2. an analyst label on a text ``labelled_data/`` already holds is dropped when it agrees, and left out
   and listed when it contradicts (the curated label stays until someone adjudicates);
3. the most recent share of the remaining labels (never those active learning chose) is the evaluation
   window: the challenger never trains on it;
4. the rest goes into one extra CSV beside copies of the labelled-data files, so the classifier's own
   trainer reads it with its fixed hash split (train/dev/test by text).
"""

from __future__ import annotations

import csv
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from threatwatch.classify.training.data import Example, load_labelled_data
from threatwatch.domain import Label
from threatwatch.retrain.labels import LabelledItem, text_key
from threatwatch.retrain.quality import Agreement, Conflict, agreement, contradictions, disagreements

ADDED_FILE = "zz_analyst_labels.csv"  # sorted last, so the labelled data keeps its order


@dataclass
class AssembledData:
    directory: Path
    base: list[Example]
    added: list[LabelledItem]
    window: list[LabelledItem]
    duplicates_dropped: int
    conflicts: list[Conflict] = field(default_factory=list)
    # How far analysts who labelled the same messages agree: the promotion rule's check on the labels.
    agreement: Agreement = field(default_factory=lambda: Agreement(items=0, observed=None, kappa=None))

    @property
    def test(self) -> list[Example]:
        """The fixed test split: labelled_data's own test messages, the same for every model."""
        return [e for e in self.base if e.split == "test"]

    @property
    def window_examples(self) -> list[Example]:
        return [as_example(item, source="window") for item in self.window]

    def counts(self) -> dict[str, int]:
        return {
            "labelled_data": len(self.base),
            "analyst_labels_added": len(self.added),
            "evaluation_window": len(self.window),
            "duplicates_of_labelled_data_dropped": self.duplicates_dropped,
            "left_out_for_adjudication": sum(
                c.kind in ("analysts disagree", "contradicts labelled_data") for c in self.conflicts
            ),
        }


def as_example(item: LabelledItem, *, source: str) -> Example:
    assert item.label is not None
    return Example(text=item.text, label=Label(item.label), subtype="analyst", source_file=source)


def split_window(items: list[LabelledItem], *, share: float) -> tuple[list[LabelledItem], list[LabelledItem]]:
    """(training items, window): the window is the most recent ``share`` of the items active learning
    did not choose; uncertain items always train."""
    eligible = [item for item in items if not item.uncertain]
    size = math.floor(len(eligible) * share)
    window = sorted(eligible, key=lambda item: (item.labelled_at, item.key))[len(eligible) - size :]
    held = {id(item) for item in window}
    return [item for item in items if id(item) not in held], window


def assemble(
    items: list[LabelledItem], *, labelled_data_dir: Path, work_dir: Path, window_share: float
) -> AssembledData:
    base = load_labelled_data(labelled_data_dir)
    conflicts = disagreements(items)
    base_labels = {text_key(e.text): e.label.value for e in base}
    fresh: list[LabelledItem] = []
    duplicates = 0
    for item in items:
        if item.label is None:
            continue
        known = base_labels.get(text_key(item.text))
        if known is None:
            fresh.append(item)
        elif known == item.label:
            duplicates += 1
    conflicts += contradictions(items, base)
    added, window = split_window(fresh, share=window_share)

    work_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(labelled_data_dir.glob("*.csv")):
        shutil.copyfile(path, work_dir / path.name)
    with (work_dir / ADDED_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "subtype", "platform", "variant"])
        for item in added:
            writer.writerow([item.text, item.label, "analyst", "", ""])
    return AssembledData(
        directory=work_dir,
        base=base,
        added=added,
        window=window,
        duplicates_dropped=duplicates,
        conflicts=conflicts,
        agreement=agreement(items),
    )
