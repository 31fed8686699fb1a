"""bucket cors, acls and post uploads

The bucket's canned ACL is ``buckets.anonymous_read`` (public-read when set), so only
the CORS document and the per-version (and per-upload) canned ACL are new.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 11:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cors", sa.Text(), nullable=True))
    for table in ("versions", "multipart_uploads"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "canned_acl",
                    sa.String(length=32),
                    server_default=sa.text("'private'"),
                    nullable=False,
                )
            )


def downgrade() -> None:
    for table in ("multipart_uploads", "versions"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("canned_acl")
    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.drop_column("cors")
