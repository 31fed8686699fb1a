"""scan state

Per version: the malware scan's status, signature (or unscannable reason), whether the
version is quarantined, and when it was scanned. Per bucket: the scan policy.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCAN_STATUS = "scan_status IN ('pending', 'clean', 'infected', 'unscannable')"
SCAN_POLICY = "scan_policy IN ('async', 'strict')"


def upgrade() -> None:
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scan_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("scan_signature", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("quarantined", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint("scan_status", SCAN_STATUS)
        batch_op.create_index(
            "ix_versions_quarantined",
            ["id"],
            unique=False,
            sqlite_where=sa.text("quarantined"),
            postgresql_where=sa.text("quarantined"),
        )
    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scan_policy", sa.String(length=16), server_default="async", nullable=False)
        )
        batch_op.create_check_constraint("scan_policy", SCAN_POLICY)


def downgrade() -> None:
    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_buckets_scan_policy"), type_="check")
        batch_op.drop_column("scan_policy")
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_versions_quarantined",
            sqlite_where=sa.text("quarantined"),
            postgresql_where=sa.text("quarantined"),
        )
        batch_op.drop_constraint(op.f("ck_versions_scan_status"), type_="check")
        batch_op.drop_column("scanned_at")
        batch_op.drop_column("quarantined")
        batch_op.drop_column("scan_signature")
        batch_op.drop_column("scan_status")
