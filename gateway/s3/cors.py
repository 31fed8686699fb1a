"""S3 bucket CORS: the configuration document, rule matching and the response headers.

A configuration holds 1 to 100 rules. A rule matches a request when one of its
AllowedOrigin patterns matches the Origin (case-sensitively), its AllowedMethod list
holds the method, and (preflight only) every requested header matches one of its
AllowedHeader patterns (case-insensitively). A pattern holds at most one ``*``, which
stands for any run of characters. The first matching rule answers, as in S3.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from xml.etree.ElementTree import Element

from gateway.s3.errors import InvalidRequest, MalformedXML
from gateway.s3.xml import add, add_all, child_text, children, document, parse

MAX_RULES = 100
METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_ID_LENGTH = 255


@dataclass(frozen=True)
class CorsRule:
    """One CORSRule: what it allows, and what the answer tells the browser."""

    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None
    id: str | None = None

    def allows(self, origin: str, method: str, headers: Iterable[str] = ()) -> bool:
        """Whether this rule admits a request from ``origin`` by ``method`` sending ``headers``."""
        return (
            method in self.allowed_methods
            and any(wildcard_match(p, origin) for p in self.allowed_origins)
            and all(
                any(wildcard_match(p.lower(), h.lower()) for p in self.allowed_headers)
                for h in headers
            )
        )


def wildcard_match(pattern: str, value: str) -> bool:
    """Whether ``value`` matches ``pattern``, where one ``*`` stands for any run of characters."""
    head, star, tail = pattern.partition("*")
    if not star:
        return pattern == value
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def _texts(element: Element, tag: str) -> tuple[str, ...]:
    return tuple((item.text or "").strip() for item in children(element, tag))


def _check_wildcards(values: Iterable[str], what: str) -> None:
    for value in values:
        if value.count("*") > 1:
            raise InvalidRequest(f'{what} "{value}" can not have more than one wildcard.')


def _rule(element: Element) -> CorsRule:
    origins = _texts(element, "AllowedOrigin")
    methods = _texts(element, "AllowedMethod")
    if not origins or not methods:
        raise MalformedXML()
    for method in methods:
        if method not in METHODS:
            raise InvalidRequest(
                f"Found unsupported HTTP method in CORS config. Unsupported method is {method}"
            )
    headers = _texts(element, "AllowedHeader")
    _check_wildcards(origins, "AllowedOrigin")
    _check_wildcards(headers, "AllowedHeader")
    max_age = child_text(element, "MaxAgeSeconds")
    if max_age is not None and not max_age.strip().isdigit():
        raise MalformedXML()
    rule_id = child_text(element, "ID")
    if rule_id is not None and len(rule_id) > MAX_ID_LENGTH:
        raise InvalidRequest(f"The ID of a CORSRule is limited to {MAX_ID_LENGTH} characters.")
    return CorsRule(
        allowed_origins=origins,
        allowed_methods=methods,
        allowed_headers=headers,
        expose_headers=_texts(element, "ExposeHeader"),
        max_age_seconds=int(max_age) if max_age is not None else None,
        id=rule_id,
    )


def parse_configuration(body: bytes) -> tuple[CorsRule, ...]:
    """The rules of a CORSConfiguration document.

    MalformedXML for a document that is not one, has no rule, more than 100, or a rule
    without AllowedOrigin or AllowedMethod; InvalidRequest for an unsupported method or
    a pattern with more than one wildcard, as S3 answers.
    """
    root = parse(body, "CORSConfiguration")
    rules = tuple(_rule(element) for element in children(root, "CORSRule"))
    if not rules or len(rules) > MAX_RULES:
        raise MalformedXML()
    return rules


def configuration_document(rules: Sequence[CorsRule]) -> Element:
    """The CORSConfiguration document GetBucketCors answers."""
    root = document("CORSConfiguration")
    for rule in rules:
        element = add(root, "CORSRule")
        add_all(element, {"ID": rule.id})
        for tag, values in (
            ("AllowedHeader", rule.allowed_headers),
            ("AllowedMethod", rule.allowed_methods),
            ("AllowedOrigin", rule.allowed_origins),
            ("ExposeHeader", rule.expose_headers),
        ):
            for value in values:
                add(element, tag, value)
        add_all(element, {"MaxAgeSeconds": rule.max_age_seconds})
    return root


def dumps(rules: Sequence[CorsRule]) -> str:
    """The rules as stored with the bucket (JSON)."""
    return json.dumps([asdict(rule) for rule in rules])


def loads(stored: str) -> tuple[CorsRule, ...]:
    """The rules ``dumps`` stored."""
    return tuple(
        CorsRule(
            allowed_origins=tuple(item["allowed_origins"]),
            allowed_methods=tuple(item["allowed_methods"]),
            allowed_headers=tuple(item["allowed_headers"]),
            expose_headers=tuple(item["expose_headers"]),
            max_age_seconds=item["max_age_seconds"],
            id=item["id"],
        )
        for item in json.loads(stored)
    )


def first_match(
    rules: Iterable[CorsRule], origin: str, method: str, headers: Iterable[str] = ()
) -> CorsRule | None:
    """The first rule that admits the request, or None."""
    wanted = tuple(headers)
    return next((rule for rule in rules if rule.allows(origin, method, wanted)), None)


def requested_headers(value: str | None) -> tuple[str, ...]:
    """The header names of an Access-Control-Request-Headers value."""
    return tuple(name.strip() for name in (value or "").split(",") if name.strip())


def response_headers(
    rule: CorsRule, origin: str, requested: Sequence[str] | None = None
) -> dict[str, str]:
    """The CORS headers S3 answers for ``rule``.

    ``requested`` is the preflight's Access-Control-Request-Headers (None on an actual
    request): they are echoed as allowed, with the rule's methods and max age.
    """
    wildcard = "*" in rule.allowed_origins
    headers: dict[str, str] = {
        "Access-Control-Allow-Origin": "*" if wildcard else origin,
        "Access-Control-Allow-Methods": ", ".join(rule.allowed_methods),
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
    if not wildcard:
        headers["Access-Control-Allow-Credentials"] = "true"
    if rule.expose_headers:
        headers["Access-Control-Expose-Headers"] = ", ".join(rule.expose_headers)
    if requested is not None:
        if requested:
            headers["Access-Control-Allow-Headers"] = ", ".join(h.lower() for h in requested)
        if rule.max_age_seconds is not None:
            headers["Access-Control-Max-Age"] = str(rule.max_age_seconds)
    return headers


def actual_request_headers(
    stored: str | None, request_headers: Mapping[str, str], method: str
) -> dict[str, str]:
    """CORS headers for an actual (non-preflight) request: none without Origin or match."""
    origin = request_headers.get("origin")
    if not origin or stored is None:
        return {}
    rule = first_match(loads(stored), origin, method)
    return {} if rule is None else response_headers(rule, origin)
