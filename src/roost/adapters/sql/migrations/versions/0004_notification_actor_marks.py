"""Notifications keyed by (user_id, id), and each grouped actor keeps the id of its event.

The workers handle events of different users concurrently (hashed stream partitions), so the
order they handle them in is not the order things happened. `actor_marks` keeps the event id of
each actor in `actor_ids`, so a late like takes its place among a group's actors. The primary key
becomes (user_id, id): it serves the newest-first listing the dropped index did.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", recreate="auto") as batch:
        batch.add_column(sa.Column("actor_marks", sa.JSON(), nullable=True))
        batch.drop_index("ix_notifications_user_id_id")
        batch.drop_constraint("pk_notifications", type_="primary")
        batch.create_primary_key("pk_notifications", ["user_id", "id"])


def downgrade() -> None:
    with op.batch_alter_table("notifications", recreate="auto") as batch:
        batch.drop_constraint("pk_notifications", type_="primary")
        batch.create_primary_key("pk_notifications", ["id"])
        batch.create_index("ix_notifications_user_id_id", ["user_id", "id"])
        batch.drop_column("actor_marks")
