"""object checksums, tags and encryption headers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 11:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _checksum_columns() -> list[sa.Column[str]]:
    return [
        sa.Column("checksum_algorithm", sa.String(length=16), nullable=True),
        sa.Column("checksum_type", sa.String(length=16), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("versions", schema=None) as batch_op:
        for column in _checksum_columns():
            batch_op.add_column(column)
        batch_op.add_column(sa.Column("checksum", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("parts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("server_side_encryption", sa.String(length=32), nullable=True)
        )
    with op.batch_alter_table("multipart_uploads", schema=None) as batch_op:
        for column in _checksum_columns():
            batch_op.add_column(column)
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("server_side_encryption", sa.String(length=32), nullable=True)
        )
    with op.batch_alter_table("parts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checksum_algorithm", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("checksum", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("parts", schema=None) as batch_op:
        batch_op.drop_column("checksum")
        batch_op.drop_column("checksum_algorithm")
    with op.batch_alter_table("multipart_uploads", schema=None) as batch_op:
        for name in ("server_side_encryption", "tags", "checksum_type", "checksum_algorithm"):
            batch_op.drop_column(name)
    with op.batch_alter_table("versions", schema=None) as batch_op:
        for name in (
            "server_side_encryption",
            "tags",
            "parts",
            "checksum",
            "checksum_type",
            "checksum_algorithm",
        ):
            batch_op.drop_column(name)
