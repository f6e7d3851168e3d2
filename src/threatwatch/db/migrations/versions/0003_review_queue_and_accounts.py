"""review queue and accounts (issue 5)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threatwatch.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_ITEM_SQL = "status IN ('open', 'claimed')"
ACTIVE_DECISION_SQL = "undone_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", threatwatch.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", threatwatch.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_item_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("urgency", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", threatwatch.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["review_items.id"],
            name=op.f("fk_escalations_review_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_escalations_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
    )
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escalations_review_item_id"), ["review_item_id"], unique=False)

    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_label", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("corrected", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(
            sa.Column("undone_at", threatwatch.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_decisions_review_item_id", ["review_item_id"], unique=False)
        batch_op.create_index(
            "uq_decisions_live_item",
            ["review_item_id"],
            unique=True,
            postgresql_where=sa.text(ACTIVE_DECISION_SQL),
            sqlite_where=sa.text(ACTIVE_DECISION_SQL),
        )

    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=20), nullable=True))
    op.execute(
        "UPDATE review_items SET label = "
        "(SELECT label FROM classifications WHERE classifications.id = review_items.classification_id)"
    )
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_review_items_active_label_order",
            ["label", "priority", "created_at", "id"],
            unique=False,
            postgresql_where=sa.text(ACTIVE_ITEM_SQL),
            sqlite_where=sa.text(ACTIVE_ITEM_SQL),
        )
        batch_op.create_index(
            "ix_review_items_active_order",
            ["priority", "created_at", "id"],
            unique=False,
            postgresql_where=sa.text(ACTIVE_ITEM_SQL),
            sqlite_where=sa.text(ACTIVE_ITEM_SQL),
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_login_at", threatwatch.db.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_login_at")

    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.drop_index("ix_review_items_active_order")
        batch_op.drop_index("ix_review_items_active_label_order")
        batch_op.drop_column("label")

    # Before this revision every decision row is a live verdict (and a training label); without
    # ``undone_at`` an undone one would look live again, so it goes (the audit log keeps the undo).
    op.execute("DELETE FROM decisions WHERE undone_at IS NOT NULL")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("uq_decisions_live_item")
        batch_op.drop_index("ix_decisions_review_item_id")
        batch_op.drop_column("undone_at")
        batch_op.drop_column("corrected")
        batch_op.drop_column("model_label")

    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalations_review_item_id"))
    op.drop_table("escalations")

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))
    op.drop_table("api_tokens")
