"""alerts on persons of concern: an alert item may tell about a person's newly raised signal instead of
a review item (review_item_id nullable; person_id, signal, signal_details), once per subscription,
person and signal

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
)


def upgrade() -> None:
    with op.batch_alter_table("alert_items", schema=None) as batch_op:
        batch_op.alter_column("review_item_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("person_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("signal", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("signal_details", JSON, nullable=True))
        batch_op.create_index(batch_op.f("ix_alert_items_person_id"), ["person_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_alert_items_person_id_persons"),
            "persons",
            ["person_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_unique_constraint(
            "uq_alert_items_subscription_person_signal", ["subscription_id", "person_id", "signal"]
        )


def downgrade() -> None:
    # Signal items have no place in the old schema: they go (their alerts keep their counts).
    op.execute("DELETE FROM alert_items WHERE review_item_id IS NULL")
    with op.batch_alter_table("alert_items", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alert_items_subscription_person_signal", type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_alert_items_person_id_persons"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_alert_items_person_id"))
        batch_op.drop_column("signal_details")
        batch_op.drop_column("signal")
        batch_op.drop_column("person_id")
        batch_op.alter_column("review_item_id", existing_type=sa.Integer(), nullable=False)
