"""persons of concern (issue 21): authors per platform account, the persons they belong to, display
names seen, per-official counts, analysts' notes; posts name their author; subscriptions follow persons

Existing posts get their authors here (each account a person of its own); their signals are computed
by the next intake run or ``threatwatch persons refresh``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import threatwatch.db.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = threatwatch.db.types.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("concern", sa.Float(), nullable=False),
        sa.Column("signals", JSON, nullable=False),
        sa.Column("post_count", sa.Integer(), nullable=False),
        sa.Column("flagged_count", sa.Integer(), nullable=False),
        sa.Column("first_post_at", UTC_TIME, nullable=True),
        sa.Column("last_post_at", UTC_TIME, nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    op.create_index("ix_persons_concern", "persons", ["concern", "id"], unique=False)
    op.create_table(
        "authors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=100), nullable=False),
        sa.Column("handle", sa.String(length=300), nullable=False),
        sa.Column("first_seen_at", UTC_TIME, nullable=False),
        sa.Column("last_seen_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_authors_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authors")),
        sa.UniqueConstraint("platform", "handle", name="uq_authors_platform_handle"),
    )
    op.create_index(op.f("ix_authors_person_id"), "authors", ["person_id"], unique=False)
    op.create_table(
        "author_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("first_seen_at", UTC_TIME, nullable=False),
        sa.Column("last_seen_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["authors.id"], name=op.f("fk_author_names_author_id_authors"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_author_names")),
        sa.UniqueConstraint("author_id", "name", name="uq_author_names_author_name"),
    )
    op.create_table(
        "person_officials",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("official_id", sa.Integer(), nullable=False),
        sa.Column("posts", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["official_id"],
            ["officials.id"],
            name=op.f("fk_person_officials_official_id_officials"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_person_officials_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "official_id", name=op.f("pk_person_officials")),
    )
    op.create_index("ix_person_officials_official", "person_officials", ["official_id", "person_id"])
    op.create_table(
        "person_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("author_label", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_person_notes_person_id_persons"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_person_notes_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_notes")),
    )
    op.create_index(op.f("ix_person_notes_person_id"), "person_notes", ["person_id"], unique=False)
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_posts_author_id"), ["author_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_posts_author_id_authors"), "authors", ["author_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person_ids", JSON, server_default="[]", nullable=False))
    op.create_index("ix_audit_events_object", "audit_events", ["object_type", "object_id", "action"])
    _attribute_existing_posts()


def _attribute_existing_posts() -> None:
    """One author (and person) per account among the posts collected so far."""
    from threatwatch.domain import author_key

    bind = op.get_bind()
    now = datetime.now(UTC)
    rows = bind.execute(
        sa.text(
            "SELECT DISTINCT posts.author, sources.kind, sources.url, sources.id FROM posts "
            "JOIN sources ON sources.id = posts.source_id WHERE posts.author IS NOT NULL"
        )
    ).all()
    persons = sa.table(
        "persons",
        sa.column("id", sa.Integer()),
        sa.column("concern", sa.Float()),
        sa.column("signals", JSON),
        sa.column("post_count", sa.Integer()),
        sa.column("flagged_count", sa.Integer()),
        sa.column("created_at", UTC_TIME),
        sa.column("updated_at", UTC_TIME),
    )
    authors = sa.table(
        "authors",
        sa.column("id", sa.Integer()),
        sa.column("person_id", sa.Integer()),
        sa.column("platform", sa.String()),
        sa.column("handle", sa.String()),
        sa.column("first_seen_at", UTC_TIME),
        sa.column("last_seen_at", UTC_TIME),
    )
    ids: dict[tuple[str, str], int] = {}
    for byline, kind, url, source_id in rows:
        key = author_key(source_kind=kind, source_url=url, author=byline)
        if key is None:
            continue
        pair = (key.platform, key.handle)
        if pair not in ids:
            person_id = bind.execute(
                persons.insert()
                .values(
                    concern=0.0, signals={}, post_count=0, flagged_count=0, created_at=now, updated_at=now
                )
                .returning(persons.c.id)
            ).scalar_one()
            ids[pair] = bind.execute(
                authors.insert()
                .values(
                    person_id=person_id, platform=pair[0], handle=pair[1], first_seen_at=now, last_seen_at=now
                )
                .returning(authors.c.id)
            ).scalar_one()
        bind.execute(
            sa.text(
                "UPDATE posts SET author_id = :author_id WHERE source_id = :source_id AND author = :byline"
            ),
            {"author_id": ids[pair], "source_id": source_id, "byline": byline},
        )


def downgrade() -> None:
    op.drop_index("ix_audit_events_object", table_name="audit_events")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("person_ids")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_posts_author_id_authors"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_posts_author_id"))
        batch_op.drop_column("author_id")
    op.drop_index(op.f("ix_person_notes_person_id"), table_name="person_notes")
    op.drop_table("person_notes")
    op.drop_index("ix_person_officials_official", table_name="person_officials")
    op.drop_table("person_officials")
    op.drop_table("author_names")
    op.drop_index(op.f("ix_authors_person_id"), table_name="authors")
    op.drop_table("authors")
    op.drop_index("ix_persons_concern", table_name="persons")
    op.drop_table("persons")
