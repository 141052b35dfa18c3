"""Graph versions: a viewer's cached graph is reused until its version or the tier epoch moves.

`users.graph_version` changes with every follow, unfollow, block, unblock, mute and unmute that
touches the account's home feed; `roost_state.tier_epoch` changes with every promotion to or
demotion from the celebrity tier.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("graph_version", sa.BigInteger(), nullable=False, server_default="0"))
    state = op.create_table(
        "roost_state",
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_roost_state"),
    )
    op.bulk_insert(state, [{"key": "tier_epoch", "value": 0}])


def downgrade() -> None:
    op.drop_table("roost_state")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("graph_version")
