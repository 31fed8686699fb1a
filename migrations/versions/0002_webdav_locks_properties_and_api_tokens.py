"""webdav locks, properties, api tokens; versions by object

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:12:52.650932
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.create_index("ix_versions_object_id", ["object_id"], unique=False)

    op.create_table(
        "dav_locks",
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column(
            "root",
            sa.String(length=4096).with_variant(
                sa.String(length=4096, collation="C"), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("depth", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.LargeBinary(), nullable=False),
        sa.Column("timeout", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_dav_locks")),
    )
    with op.batch_alter_table("dav_locks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dav_locks_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_dav_locks_root"), ["root"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "dav_properties",
        sa.Column(
            "bucket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "path",
            sa.String(length=1024).with_variant(
                sa.String(length=1024, collation="C"), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bucket_id"],
            ["buckets.id"],
            name=op.f("fk_dav_properties_bucket_id_buckets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bucket_id", "path", "name", name=op.f("pk_dav_properties")),
    )
    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("anonymous_read", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    with op.batch_alter_table("change_feed", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_bucket", sa.String(length=63), nullable=True))
        batch_op.add_column(
            sa.Column(
                "source_key",
                sa.String(length=1024).with_variant(
                    sa.String(length=1024, collation="C"), "postgresql"
                ),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.drop_index("ix_versions_object_id")

    with op.batch_alter_table("change_feed", schema=None) as batch_op:
        batch_op.drop_column("source_key")
        batch_op.drop_column("source_bucket")

    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.drop_column("anonymous_read")

    op.drop_table("dav_properties")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("dav_locks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dav_locks_root"))
        batch_op.drop_index(batch_op.f("ix_dav_locks_expires_at"))

    op.drop_table("dav_locks")
