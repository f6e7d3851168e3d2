"""A backlog classified by the Dask task runner over two worker processes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threatwatch.config import Settings
from threatwatch.db.models import Classification, Post, ReviewItem
from threatwatch.flows.classify_batch import classify_batch_on, live_model_version
from threatwatch.registry import live_classifier

from ..ops import rows

pytestmark = pytest.mark.slow

TEXTS = [
    "Burgemeester, we weten waar je woont en we komen je halen.",
    "Bedankt voor de mooie opening van het nieuwe buurthuis!",
    "Wanneer gaat de bibliotheek weer open na de verbouwing?",
    "Als je dit besluit niet terugdraait zorgen we dat je kinderen het merken.",
    "Hier is zijn adres: Dorpsstraat 12, ga maar eens langs vanavond.",
    "Wat een saaie raadsvergadering was dat gisteren.",
]


# PostgreSQL only: the scale-out backend (SQLite takes one writer at a time), and each run starts two
# processes that load the model, which costs minutes on a busy two-core machine.
@pytest.mark.parametrize("migrated_url", ["postgresql"], indirect=True)
def test_backlog_is_split_over_processes_without_overlap(
    prefect_harness: None, session: Session, settings: Settings
) -> None:
    now = datetime.now(UTC)
    feed = rows.source(session)
    for n in range(36):
        rows.post(
            session,
            source_id=feed.id,
            external_id=f"p{n}",
            collected_at=now,
            text=TEXTS[n % len(TEXTS)],
            label=None,
        )
    session.commit()

    report = classify_batch_on(workers=2)(
        settings_overrides={
            "database_url": settings.database_url,
            "model_dir": str(settings.model_dir),
            "cache_dir": str(settings.cache_dir),
            "data_dir": str(settings.data_dir),
        },
        chunk_size=5,  # 8 chunks over 2 processes
    )

    version = live_model_version(settings)
    assert report.classified == 36
    per_post = dict(
        session.execute(
            select(Classification.post_id, func.count())
            .where(Classification.model_version == version)
            .group_by(Classification.post_id)
        ).all()
    )
    assert len(per_post) == 36 and set(per_post.values()) == {1}  # each post once, none twice
    # The same decisions as one process classifying the same texts.
    expected = live_classifier(settings).predict(TEXTS, explain=False)
    stored = dict(session.execute(select(Post.text, Classification.label).join(Classification)).all())
    assert [stored[t] for t in TEXTS] == [r.label.value for r in expected]
    flagged = sum(6 for r in expected if r.flagged)
    assert report.flagged == flagged
    assert session.scalar(select(func.count()).select_from(ReviewItem)) == flagged
