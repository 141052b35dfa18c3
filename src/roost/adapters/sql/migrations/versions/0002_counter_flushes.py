"""Counter flush tokens: buffered like / repost deltas are applied exactly once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "counter_flushes",
        sa.Column("token", sa.String(40), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_counter_flushes"),
    )
    op.create_index("ix_counter_flushes_applied_at", "counter_flushes", ["applied_at"])


def downgrade() -> None:
    op.drop_index("ix_counter_flushes_applied_at", table_name="counter_flushes")
    op.drop_table("counter_flushes")
