"""collection sources (issue 4): source kinds, per-official searches, back-off, run lease, duplicates

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threatwatch.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("official_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cursor", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("next_poll_at", threatwatch.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("locked_until", threatwatch.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("lock_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("paused_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("posts_total", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index(batch_op.f("ix_sources_official_id"), ["official_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_sources_official_id_officials"),
            "officials",
            ["official_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.alter_column("posts_total", server_default=None)

    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duplicate_of_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_posts_duplicate_of_id"), ["duplicate_of_id"], unique=False)
        batch_op.create_index("ix_posts_source_hash", ["source_id", "content_hash"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_posts_duplicate_of_id_posts"),
            "posts",
            ["duplicate_of_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_posts_duplicate_of_id_posts"), type_="foreignkey")
        batch_op.drop_index("ix_posts_source_hash")
        batch_op.drop_index(batch_op.f("ix_posts_duplicate_of_id"))
        batch_op.drop_column("duplicate_of_id")

    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_sources_official_id_officials"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_sources_official_id"))
        for column in (
            "posts_total",
            "paused_reason",
            "lock_owner",
            "locked_until",
            "next_poll_at",
            "cursor",
            "official_id",
        ):
            batch_op.drop_column(column)
