"""Properties of the versioning vocabulary: VersioningConfiguration documents and version
ids. Whatever a client sends, the parser answers a status or an S3 error, never a crash."""

from __future__ import annotations

from xml.sax.saxutils import escape

from hypothesis import given
from hypothesis import strategies as st

from gateway.s3.errors import (
    IllegalVersioningConfiguration,
    InvalidArgument,
    MalformedXML,
    S3Error,
)
from gateway.s3.versioning import checked_version_id, parse_configuration
from gateway.s3.xml import NAMESPACE

statuses = st.sampled_from(["Enabled", "Suspended"])
noise = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)


def document(status: str | None, mfa: str | None = None) -> bytes:
    fields = "" if status is None else f"<Status>{escape(status)}</Status>"
    fields += "" if mfa is None else f"<MfaDelete>{escape(mfa)}</MfaDelete>"
    return (
        f'<VersioningConfiguration xmlns="{NAMESPACE}">{fields}</VersioningConfiguration>'.encode()
    )


@given(statuses, st.sampled_from([None, "Disabled"]), st.sampled_from(["", " ", "\n  "]))
def test_valid_statuses_are_read(status: str, mfa: str | None, pad: str) -> None:
    assert parse_configuration(document(pad + status + pad, mfa), None) == status


@given(noise)
def test_any_other_status_is_illegal(status: str) -> None:
    if status.strip() in ("Enabled", "Suspended"):
        return
    try:
        parse_configuration(document(status), None)
    except IllegalVersioningConfiguration:
        return
    raise AssertionError("accepted an unknown status")


@given(st.one_of(st.none(), statuses))
def test_mfa_delete_is_never_enabled(status: str | None) -> None:
    for mfa, header in (("Enabled", None), ("Disabled", "123456 SERIAL")):
        try:
            parse_configuration(document(status, mfa), header)
        except S3Error as error:
            assert error.code == "NotImplemented"
            continue
        raise AssertionError("MFA delete accepted")


@given(st.binary(max_size=200))
def test_arbitrary_bodies_give_a_status_or_an_s3_error(body: bytes) -> None:
    try:
        result = parse_configuration(body, None)
    except S3Error as error:
        assert isinstance(error, (MalformedXML, IllegalVersioningConfiguration))
        return
    assert result in (None, "Enabled", "Suspended")


@given(st.uuids())
def test_issued_ids_are_accepted(value: object) -> None:
    version_id = value.hex  # type: ignore[attr-defined]
    assert checked_version_id(version_id) == version_id
    assert checked_version_id("null") == "null"


@given(noise)
def test_other_ids_are_invalid_arguments(value: str) -> None:
    if (len(value) == 32 and all(c in "0123456789abcdef" for c in value)) or value == "null":
        return
    try:
        checked_version_id(value)
    except InvalidArgument as error:
        assert isinstance(error, S3Error) and error.status == 400
        return
    raise AssertionError(f"accepted {value!r}")
