"""Credential report parsing: hand-built CSV (moto's report has no root row and never quotes names)."""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credlife.aws.credential_report import (
    CredentialReportError,
    parse_credential_report,
    path_from_arn,
    row_to_user,
)
from credlife.domain.models import KeyStatus
from tests.builders import REPORT_HEADER as HEADER

ACCOUNT = "123456789012"
CREATED = "2025-01-02T03:04:05+00:00"


def row(name: str, *, path: str = "/", **fields: str) -> dict[str, str]:
    """A report row as AWS writes it for a user with no password and no keys, overridden by `fields`."""
    values = {
        "user": name,
        "arn": f"arn:aws:iam::{ACCOUNT}:user{path}{name}",
        "user_creation_time": CREATED,
        "password_enabled": "false",
        "password_last_used": "N/A",
        "password_last_changed": "N/A",
        "password_next_rotation": "N/A",
        "mfa_active": "false",
        "access_key_1_active": "false",
        "access_key_1_last_rotated": "N/A",
        "access_key_1_last_used_date": "N/A",
        "access_key_1_last_used_region": "N/A",
        "access_key_1_last_used_service": "N/A",
        "access_key_2_active": "false",
        "access_key_2_last_rotated": "N/A",
        "access_key_2_last_used_date": "N/A",
        "access_key_2_last_used_region": "N/A",
        "access_key_2_last_used_service": "N/A",
        "cert_1_active": "false",
        "cert_1_last_rotated": "N/A",
        "cert_2_active": "false",
        "cert_2_last_rotated": "N/A",
    }
    values.update(fields)
    return values


def report(*rows: dict[str, str], header: list[str] = HEADER) -> str:
    """CSV text written by `csv.writer`, which quotes fields the way AWS does (e.g. names with commas)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for values in rows:
        writer.writerow([values.get(column, "N/A") for column in header])
    return buffer.getvalue()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_a_name_with_a_comma_does_not_shift_columns() -> None:
    # Given a user whose name contains a comma and every other allowed symbol, with one active, used key
    name = "svc,build@x+y=z.w_v-u"
    text = report(
        row(
            name,
            path="/ci/",
            mfa_active="true",
            access_key_1_active="true",
            access_key_1_last_rotated="2025-02-01T00:00:00+00:00",
            access_key_1_last_used_date="2025-03-01T10:15:00+00:00",
            access_key_1_last_used_region="eu-west-1",
            access_key_1_last_used_service="s3",
        )
    )
    assert f'"{name}"' in text  # the fixture really is quoted CSV, not a naive join

    # When the report is parsed
    parsed = parse_credential_report(text)

    # Then the row keeps its name and every field stays in its own column
    assert parsed.rejected == 0
    (only,) = parsed.users
    assert only.user == name
    assert only.path == "/ci/"
    assert only.mfa_active is True
    assert only.access_key_1.active is True
    assert only.access_key_1.last_rotated == utc("2025-02-01T00:00:00+00:00")
    assert only.access_key_1.last_used_date == utc("2025-03-01T10:15:00+00:00")
    assert only.access_key_1.last_used_region == "eu-west-1"
    assert only.access_key_1.last_used_service == "s3"
    assert only.access_key_2.last_rotated is None


def test_unquoted_comma_in_a_name_is_recovered_by_its_arn() -> None:
    # Given a report joined with bare commas (as moto writes it) for names containing commas, one of them
    # under a path with a comma too
    good = ",".join(row("alice").values())
    comma = ",".join(
        row(
            "svc,build", access_key_1_active="true", access_key_1_last_rotated="2025-02-01T00:00:00+00:00"
        ).values()
    )
    deep = ",".join(row("a,b,c", path="/x,y/").values())
    text = ",".join(HEADER) + "\n" + good + "\n" + comma + "\n" + deep + "\n"

    # When it is parsed
    parsed = parse_credential_report(text)

    # Then the ARN column pins each name: every row is read, every field in its own column
    assert [r.user for r in parsed.users] == ["alice", "svc,build", "a,b,c"]
    assert parsed.rejected == 0
    svc = parsed.users[1]
    assert svc.arn == "arn:aws:iam::123456789012:user/svc,build"
    assert svc.access_key_1.active is True
    assert svc.access_key_1.last_rotated == utc("2025-02-01T00:00:00+00:00")
    assert parsed.users[2].path == "/x,y/"


def test_a_row_the_arn_cannot_pin_is_rejected_not_misread() -> None:
    # Given a bare-comma row whose ARN names another user than its name column
    broken = list(row("svc,build").values())
    broken[1] = broken[1].replace("svc,build", "svc,other")  # the ARN names someone else
    text = ",".join(HEADER) + "\n" + ",".join(row("alice").values()) + "\n" + ",".join(broken) + "\n"

    # When it is parsed
    parsed = parse_credential_report(text)

    # Then the row is counted as rejected and the good one survives
    assert [r.user for r in parsed.users] == ["alice"]
    assert parsed.rejected == 1


def test_placeholder_values_become_none() -> None:
    # Given a user with no password, no keys, and each of AWS's "no value" spellings
    text = report(
        row(
            "bob",
            password_last_used="no_information",
            access_key_1_last_used_region="not_supported",
            access_key_2_last_used_service="",
            cert_1_active="N/A",
        )
    )

    # When it is parsed
    (bob,) = parse_credential_report(text).users

    # Then every placeholder is None and the booleans are real booleans
    assert bob.password_enabled is False
    assert bob.password_last_used is None
    assert bob.password_last_changed is None
    assert bob.password_next_rotation is None
    assert bob.access_key_1.last_used_region is None
    assert bob.access_key_2.last_used_service is None
    assert bob.cert_1.active is None
    assert bob.cert_2.active is False
    assert bob.user_creation_time == utc(CREATED)


def test_timestamps_are_aware_utc_whatever_the_offset() -> None:
    # Given timestamps written with +00:00, Z, and a non-UTC offset
    text = report(
        row(
            "carol",
            user_creation_time="2025-01-02T03:04:05Z",
            access_key_1_active="true",
            access_key_1_last_rotated="2025-02-01T02:00:00+02:00",
        )
    )

    # When parsed
    (carol,) = parse_credential_report(text).users

    # Then they are aware UTC datetimes of the same instant
    assert carol.user_creation_time == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert carol.user_creation_time.tzinfo is UTC
    assert carol.access_key_1.last_rotated == datetime(2025, 2, 1, 0, 0, tzinfo=UTC)
    assert carol.access_key_1.last_rotated.utcoffset() == timedelta(0)


def test_name_not_matching_its_arn_is_rejected_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    # Given one good row and one whose name differs from the last segment of its ARN
    mismatched = row("mallory", arn=f"arn:aws:iam::{ACCOUNT}:user/admin")
    text = report(row("alice"), mismatched, row("dave", path="/ops/"))

    # When parsed
    with caplog.at_level(logging.WARNING, logger="credlife.inventory"):
        parsed = parse_credential_report(text)

    # Then the mismatched row is skipped, counted and logged; the others are kept in order
    assert [r.user for r in parsed.users] == ["alice", "dave"]
    assert parsed.rejected == 1
    assert any("does not match" in rec.getMessage() for rec in caplog.records)
    assert all(rec.name == "credlife.inventory" for rec in caplog.records)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"arn": "not-an-arn"}, id="malformed-arn"),
        pytest.param({"arn": f"arn:aws:iam::{ACCOUNT}:role/erin"}, id="role-arn"),
        pytest.param({"mfa_active": "yes"}, id="bad-boolean"),
        pytest.param({"user_creation_time": "yesterday"}, id="bad-timestamp"),
        pytest.param({"user_creation_time": "N/A"}, id="no-creation-time"),
        pytest.param(
            {"access_key_1_active": "N/A", "access_key_1_last_rotated": CREATED}, id="key-without-status"
        ),
    ],
)
def test_malformed_rows_are_rejected_without_stopping_the_parse(fields: dict[str, str]) -> None:
    # Given a malformed row between two good ones
    text = report(row("alice"), row("erin", **fields), row("frank"))

    # When parsed
    parsed = parse_credential_report(text)

    # Then only the malformed row is dropped
    assert [r.user for r in parsed.users] == ["alice", "frank"]
    assert parsed.rejected == 1


def test_root_row_is_kept_apart_from_users() -> None:
    # Given a hand-built root row (moto never writes one) followed by a user
    root = row(
        "<root_account>",
        arn=f"arn:aws:iam::{ACCOUNT}:root",
        password_enabled="not_supported",
        mfa_active="true",
        access_key_1_active="true",
        access_key_1_last_rotated="2024-05-05T05:05:05+00:00",
    )
    text = report(root, row("alice"))

    # When parsed
    parsed = parse_credential_report(text)

    # Then the root row is in `root`, not among the users
    assert [r.user for r in parsed.users] == ["alice"]
    assert parsed.root is not None
    assert parsed.root.is_root
    assert parsed.root.mfa_active is True
    assert parsed.root.password_enabled is None
    assert parsed.root.access_key_1.last_rotated == utc("2024-05-05T05:05:05+00:00")
    assert parsed.rejected == 0


def test_root_row_with_a_user_arn_is_rejected() -> None:
    # Given a "<root_account>" row whose ARN is a user ARN
    text = report(row("<root_account>", arn=f"arn:aws:iam::{ACCOUNT}:user/root"))

    # When parsed
    parsed = parse_credential_report(text)

    # Then it is neither root nor a user
    assert parsed.root is None
    assert parsed.users == ()
    assert parsed.rejected == 1


def test_missing_key_columns_fail_the_whole_report() -> None:
    # Given a header without the second key's columns (keys would silently vanish)
    header = [c for c in HEADER if not c.startswith("access_key_2")]

    # When / Then parsing refuses the report
    with pytest.raises(CredentialReportError, match="access_key_2_active"):
        parse_credential_report(report(row("alice"), header=header))


def test_optional_columns_may_be_absent() -> None:
    # Given an older header without certificate and region/service columns
    header = [c for c in HEADER if not c.startswith("cert_") and not c.endswith(("_region", "_service"))]

    # When parsed
    parsed = parse_credential_report(report(row("alice", access_key_1_last_used_region="x"), header=header))

    # Then the user is read and the absent fields are None
    (alice,) = parsed.users
    assert alice.cert_1.active is None
    assert alice.access_key_1.last_used_region is None


def test_row_to_user_maps_keys_password_and_mfa() -> None:
    # Given a console user with MFA, one active used key and one inactive never-used key
    text = report(
        row(
            "grace",
            path="/eng/team/",
            password_enabled="true",
            password_last_used="2025-04-01T08:00:00+00:00",
            password_last_changed="2025-01-10T00:00:00+00:00",
            mfa_active="true",
            access_key_1_active="true",
            access_key_1_last_rotated="2025-02-01T00:00:00+00:00",
            access_key_1_last_used_date="2025-04-02T00:00:00+00:00",
            access_key_2_active="false",
            access_key_2_last_rotated="2025-03-01T00:00:00+00:00",
        )
    )

    # When the row becomes a domain user
    user = row_to_user(parse_credential_report(text).users[0])

    # Then keys come from the dated slots, with status and last use; the password becomes a login profile
    assert user.name == "grace"
    assert user.path == "/eng/team/"
    assert user.arn == f"arn:aws:iam::{ACCOUNT}:user/eng/team/grace"
    assert user.created == utc(CREATED)
    assert [(k.created, k.status, k.last_used, k.key_id) for k in user.access_keys] == [
        (utc("2025-02-01T00:00:00+00:00"), KeyStatus.ACTIVE, utc("2025-04-02T00:00:00+00:00"), None),
        (utc("2025-03-01T00:00:00+00:00"), KeyStatus.INACTIVE, None, None),
    ]
    assert user.login_profile is not None
    assert user.login_profile.created == utc("2025-01-10T00:00:00+00:00")
    assert user.login_profile.last_used == utc("2025-04-01T08:00:00+00:00")
    assert user.mfa_active is True
    assert user.keys_resolved is False
    assert user.tags == {}


def test_row_to_user_without_password_change_date_uses_user_creation() -> None:
    # Given a password whose change date is unknown and which was never used
    text = report(row("heidi", password_enabled="true", password_last_used="no_information"))

    # When converted
    user = row_to_user(parse_credential_report(text).users[0])

    # Then the login profile dates from the user's creation and has no last use; no keys
    assert user.login_profile is not None
    assert user.login_profile.created == utc(CREATED)
    assert user.login_profile.last_used is None
    assert user.access_keys == ()
    assert user.mfa_active is False


def test_row_to_user_without_password_has_no_login_profile() -> None:
    # Given a user without a password
    user = row_to_user(parse_credential_report(report(row("ivan"))).users[0])

    # Then there is no login profile
    assert user.login_profile is None


def test_path_from_arn() -> None:
    # Given / When / Then the path is everything between "user" and the name
    assert path_from_arn(f"arn:aws:iam::{ACCOUNT}:user/a") == "/"
    assert path_from_arn(f"arn:aws:iam::{ACCOUNT}:user/x/y/a,b") == "/x/y/"
    assert path_from_arn(f"arn:aws-cn:iam::{ACCOUNT}:user/x/a") == "/x/"
    assert path_from_arn(f"arn:aws:iam::{ACCOUNT}:role/x/a") is None


NAMES = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-", min_size=1, max_size=64
)


@given(name=NAMES, offset_hours=st.integers(min_value=-12, max_value=14))
def test_any_valid_name_round_trips(name: str, offset_hours: int) -> None:
    # Given any valid IAM user name and a key timestamp in any offset
    rotated = datetime(2025, 2, 1, 12, 0, tzinfo=timezone(timedelta(hours=offset_hours)))
    text = report(row(name, access_key_1_active="true", access_key_1_last_rotated=rotated.isoformat()))

    # When parsed
    parsed = parse_credential_report(text)

    # Then the row is accepted with its exact name and the key's instant
    assert parsed.rejected == 0
    assert [r.user for r in parsed.users] == [name]
    assert parsed.users[0].access_key_1.last_rotated == rotated
