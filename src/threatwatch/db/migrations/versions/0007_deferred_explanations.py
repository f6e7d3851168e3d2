"""deferred explanations: classifications.explanation is NULL until the explain flow has run

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("classifications", schema=None) as batch_op:
        batch_op.alter_column("explanation", existing_type=_JSON, nullable=True)


def downgrade() -> None:
    # "Not explained yet" has no place in the old schema: it becomes "no explanation".
    op.execute("UPDATE classifications SET explanation = '[]' WHERE explanation IS NULL")
    with op.batch_alter_table("classifications", schema=None) as batch_op:
        batch_op.alter_column("explanation", existing_type=_JSON, nullable=False)
