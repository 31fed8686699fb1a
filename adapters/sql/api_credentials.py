"""The native API's credentials in SQL: signing keys and refresh tokens (``ApiCredentialStore``)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, func, insert, select, update

from adapters.sql.models import RefreshTokenRow, SigningKeyRow, UserRow
from adapters.sql.repository import SqlRepository
from adapters.sql.timestamps import aware, aware_or_none
from gateway.records import SigningKey, User

_KEYS = cast(Table, SigningKeyRow.__table__)
_REFRESH = cast(Table, RefreshTokenRow.__table__)
_USERS = cast(Table, UserRow.__table__)


class SqlApiCredentials(SqlRepository):
    """``ApiCredentialStore`` on the gateway's database."""

    def signing_keys(self) -> list[SigningKey]:
        with self._connection() as connection:
            rows = connection.execute(
                select(_KEYS).order_by(_KEYS.c.created_at.desc(), _KEYS.c.kid)
            ).all()
        return [
            SigningKey(
                r.kid, r.algorithm, r.private_jwk, aware(r.created_at), aware_or_none(r.retired_at)
            )
            for r in rows
        ]

    def add_signing_key(self, key: SigningKey) -> None:
        with self._write_connection() as connection:
            connection.execute(
                insert(_KEYS).values(
                    kid=key.kid,
                    algorithm=key.algorithm,
                    private_jwk=key.private_jwk,
                    created_at=key.created_at,
                    retired_at=key.retired_at,
                )
            )

    def retire_signing_key(self, kid: str, at: datetime) -> bool:
        with self._write_connection() as connection:
            result = connection.execute(
                update(_KEYS)
                .where(_KEYS.c.kid == kid)
                .values(retired_at=func.coalesce(_KEYS.c.retired_at, at))
            )
            return bool(result.rowcount)

    def remove_signing_key(self, kid: str) -> bool:
        with self._write_connection() as connection:
            return bool(connection.execute(delete(_KEYS).where(_KEYS.c.kid == kid)).rowcount)

    def create_refresh_token(
        self, user_id: int, token_hash: str, family: str, expires_at: datetime
    ) -> None:
        with self._write_connection() as connection:
            connection.execute(
                insert(_REFRESH).values(
                    user_id=user_id,
                    token_hash=token_hash,
                    family=family,
                    created_at=datetime.now(expires_at.tzinfo),
                    expires_at=expires_at,
                )
            )

    def rotate_refresh_token(
        self, token_hash: str, new_hash: str, new_expires_at: datetime, now: datetime
    ) -> User | None:
        with self._write_connection() as connection:
            row = connection.execute(
                select(_REFRESH).where(_REFRESH.c.token_hash == token_hash).with_for_update()
            ).first()
            if row is None:
                return None
            if row.replaced_by is not None or row.revoked_at is not None:
                connection.execute(
                    update(_REFRESH)
                    .where(_REFRESH.c.family == row.family, _REFRESH.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                return None
            if aware(row.expires_at) <= now:
                return None
            new_id = connection.execute(
                insert(_REFRESH)
                .values(
                    user_id=row.user_id,
                    token_hash=new_hash,
                    family=row.family,
                    created_at=now,
                    expires_at=new_expires_at,
                )
                .returning(_REFRESH.c.id)
            ).scalar_one()
            connection.execute(
                update(_REFRESH).where(_REFRESH.c.id == row.id).values(replaced_by=new_id)
            )
            user = connection.execute(select(_USERS).where(_USERS.c.id == row.user_id)).one()
            return User(user.id, user.name, user.is_admin, aware(user.created_at))

    def revoke_refresh_token(self, token_hash: str, now: datetime) -> bool:
        with self._write_connection() as connection:
            family = connection.execute(
                select(_REFRESH.c.family).where(_REFRESH.c.token_hash == token_hash)
            ).scalar()
            if family is None:
                return False
            connection.execute(
                update(_REFRESH)
                .where(_REFRESH.c.family == family, _REFRESH.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return True
