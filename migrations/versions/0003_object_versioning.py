"""object versioning

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 11:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("versioning", sa.String(length=16), server_default="", nullable=False)
        )
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("null_version", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("is_delete_marker", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            "uq_versions_null_object",
            ["object_id"],
            unique=True,
            sqlite_where=sa.text("null_version"),
            postgresql_where=sa.text("null_version"),
        )


def downgrade() -> None:
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_versions_null_object",
            sqlite_where=sa.text("null_version"),
            postgresql_where=sa.text("null_version"),
        )
        batch_op.drop_column("is_delete_marker")
        batch_op.drop_column("null_version")
    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.drop_column("versioning")
