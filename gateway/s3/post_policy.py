"""The signed policy of a browser form upload (S3 POST Object), and its conditions.

The form carries ``policy`` (base64 of a JSON document with ``expiration`` and
``conditions``) and ``x-amz-signature``, the hex HMAC-SHA256 of that base64 text under
the SigV4 signing key of ``x-amz-credential``. Conditions are ``{"field": "value"}`` or
``["eq", "$field", "value"]`` (exact match), ``["starts-with", "$field", "prefix"]``
and ``["content-length-range", min, max]``. Field names compare case-insensitively.
Every form field except ``policy``, ``x-amz-signature``, ``file`` and ``x-ignore-*``
must be named by a condition, as S3 requires.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.s3.errors import (
    AccessDenied,
    InvalidPolicyDocument,
    S3Error,
    SignatureDoesNotMatch,
)
from gateway.s3.sigv4 import Credential, signing_key

# Form fields that never need a condition.
UNCONDITIONED = frozenset({"policy", "x-amz-signature", "file"})
IGNORED_PREFIX = "x-ignore-"


@dataclass(frozen=True)
class Condition:
    """``operator`` ("eq" or "starts-with") applied to the form field ``field``."""

    operator: str
    field: str
    value: str

    def holds(self, fields: Mapping[str, str]) -> bool:
        """Whether the form's fields satisfy this condition (a missing field is "")."""
        actual = fields.get(self.field)
        if actual is None:
            return self.operator == "starts-with" and self.value == ""
        if self.operator == "eq":
            return actual == self.value
        return actual.startswith(self.value)

    def describe(self) -> str:
        """The condition as S3 quotes it in errors."""
        return json.dumps([self.operator, "$" + self.field, self.value])


@dataclass(frozen=True)
class PostPolicy:
    """A decoded policy: when it expires, its field conditions and allowed file sizes."""

    expiration: datetime
    conditions: tuple[Condition, ...]
    length_range: tuple[int, int] | None

    def check(self, fields: Mapping[str, str], now: datetime) -> None:
        """Raise AccessDenied ("Invalid according to Policy: ...") unless every condition
        holds, every field is conditioned and the policy has not expired."""
        if now >= self.expiration:
            raise AccessDenied("Invalid according to Policy: Policy expired.")
        for condition in self.conditions:
            if not condition.holds(fields):
                raise AccessDenied(
                    f"Invalid according to Policy: Policy Condition failed: {condition.describe()}"
                )
        named = {condition.field for condition in self.conditions}
        extra = sorted(
            name
            for name in fields
            if name not in named
            and name not in UNCONDITIONED
            and not name.startswith(IGNORED_PREFIX)
        )
        if extra:
            raise AccessDenied(
                f"Invalid according to Policy: Extra input fields: {', '.join(extra)}"
            )


def _invalid(reason: str) -> S3Error:
    return InvalidPolicyDocument(f"Invalid Policy: {reason}")


def _expiration(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _invalid("Policy missing expiration.")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"Invalid 'expiration' value: '{value}'") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _field_name(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("$"):
        raise _invalid("Invalid Policy: a condition must name a field as '$name'.")
    return value[1:].lower()


def _length(value: Any) -> int:
    if isinstance(value, bool):
        raise _invalid("Invalid content-length-range.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _invalid("Invalid content-length-range.") from None
    if number < 0:
        raise _invalid("Invalid content-length-range.")
    return number


def decode_policy(encoded: str) -> PostPolicy:
    """The policy in the form's ``policy`` field; InvalidPolicyDocument when malformed."""
    try:
        document = json.loads(base64.b64decode(encoded.strip(), validate=True))
    except (binascii.Error, ValueError):
        raise _invalid("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid("Invalid JSON.")
    conditions_list = document.get("conditions")
    if not isinstance(conditions_list, list):
        raise _invalid("Policy missing conditions.")
    conditions: list[Condition] = []
    length_range: tuple[int, int] | None = None
    for item in conditions_list:
        if isinstance(item, dict) and len(item) == 1:
            name, value = next(iter(item.items()))
            if not isinstance(value, str):
                raise _invalid(f"Invalid condition value for {name}.")
            conditions.append(Condition("eq", name.lower().lstrip("$"), value))
        elif isinstance(item, list) and len(item) == 3 and item[0] == "content-length-range":
            length_range = (_length(item[1]), _length(item[2]))
        elif isinstance(item, list) and len(item) == 3 and item[0] in ("eq", "starts-with"):
            if not isinstance(item[2], str):
                raise _invalid(f"Invalid condition value for {item[1]}.")
            conditions.append(Condition(item[0], _field_name(item[1]), item[2]))
        else:
            raise _invalid(f"Invalid condition: {json.dumps(item)}")
    return PostPolicy(_expiration(document.get("expiration")), tuple(conditions), length_range)


def verify_signature(encoded: str, signature: str, secret: str, credential: Credential) -> None:
    """SignatureDoesNotMatch unless ``signature`` signs ``encoded`` (the policy field)."""
    key = signing_key(secret, credential.date, credential.region)
    expected = hmac.new(key, encoded.encode("utf-8"), "sha256").hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode()):
        raise SignatureDoesNotMatch(AWSAccessKeyId=credential.access_key)
