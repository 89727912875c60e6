"""Parse the IAM credential report (CSV) into typed rows, and rows into domain `User`s.

Pure (stdlib only) so the parsing rules can be unit-tested with hand-built reports: moto's report has no
`<root_account>` row and joins fields with bare commas. The report is read with `csv` because user names
may contain `+ = , . @ _ -`; each row is checked against its ARN so a name with a comma can never shift
columns unnoticed. A bad row is logged, counted and skipped: one odd user must not stop the account's scan.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from credlife.domain.models import AccessKey, KeyStatus, LoginProfile, User

logger = logging.getLogger("credlife.inventory")

ROOT_USER = "<root_account>"

#: Values AWS writes when a field does not apply or is unknown; all mean "no value".
_EMPTY = frozenset({"", "N/A", "not_supported", "no_information"})

#: Columns without which the report cannot be trusted (a missing key column would hide keys silently).
REQUIRED_COLUMNS = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
)

# IAM user names never contain ':' or '/', so the name is the ARN's last '/' segment and the path is
# everything between "user" and the name.
_USER_ARN = re.compile(r"^arn:[a-z0-9-]+:iam::(?P<account>\d{12}):user(?P<path>/(?:[^/]+/)*)(?P<name>[^/]+)$")
_ROOT_ARN = re.compile(r"^arn:[a-z0-9-]+:iam::(?P<account>\d{12}):root$")


class CredentialReportError(ValueError):
    """The report as a whole is unusable (wrong header): nothing in it can be trusted."""


class _RowError(ValueError):
    """One row is unusable; it is skipped and counted."""


@dataclass(frozen=True, slots=True)
class KeySlot:
    """One of the report's two access-key column groups. A slot with no `last_rotated` holds no key."""

    active: bool | None = None
    last_rotated: datetime | None = None
    last_used_date: datetime | None = None
    last_used_region: str | None = None
    last_used_service: str | None = None


@dataclass(frozen=True, slots=True)
class CertSlot:
    """One of the report's two signing-certificate column groups."""

    active: bool | None = None
    last_rotated: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReportRow:
    user: str
    arn: str
    user_creation_time: datetime | None
    password_enabled: bool | None
    password_last_used: datetime | None
    password_last_changed: datetime | None
    password_next_rotation: datetime | None
    mfa_active: bool | None
    access_key_1: KeySlot
    access_key_2: KeySlot
    cert_1: CertSlot
    cert_2: CertSlot

    @property
    def is_root(self) -> bool:
        return self.user == ROOT_USER

    @property
    def key_slots(self) -> tuple[KeySlot, KeySlot]:
        return (self.access_key_1, self.access_key_2)

    @property
    def path(self) -> str:
        """The user's IAM path, read from the ARN (the report has no path column)."""
        return path_from_arn(self.arn) or "/"


@dataclass(frozen=True, slots=True)
class CredentialReport:
    users: tuple[ReportRow, ...]
    root: ReportRow | None = None
    #: Rows skipped because they were malformed or their name did not match their ARN.
    rejected: int = 0


def path_from_arn(arn: str) -> str | None:
    """The path of an IAM user ARN (`/` or `/a/b/`), or None if it is not a user ARN."""
    match = _USER_ARN.match(arn)
    return match["path"] if match else None


def parse_credential_report(text: str) -> CredentialReport:
    """Parse the report's CSV text. Raises `CredentialReportError` only for a wrong header."""
    reader = csv.DictReader(io.StringIO(text), restkey="__extra__")
    header = reader.fieldnames or []
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise CredentialReportError(f"credential report lacks columns: {', '.join(missing)}")

    users: list[ReportRow] = []
    root: ReportRow | None = None
    rejected = 0
    for raw in reader:
        line = reader.line_num
        record: Mapping[str, str | list[str] | None] = raw
        if raw.get("__extra__") is not None:
            record = _realigned(list(header), raw)
        try:
            row = _parse_row(record)
        except _RowError as error:
            rejected += 1
            # The row's name may be the very field that is wrong: log the line number and reason only.
            logger.warning("credential report line %d rejected: %s", line, error)
            continue
        if row.is_root:
            root = row
        else:
            users.append(row)
    return CredentialReport(users=tuple(users), root=root, rejected=rejected)


def _realigned(
    header: list[str], record: Mapping[str, str | list[str] | None]
) -> Mapping[str, str | list[str] | None]:
    """A row joined with bare commas (moto's report) whose user name has commas in it: the name and its
    ARN are spread over more fields than the header has. The ARN pins the name (its last segment), so the
    one split where the ARN's name equals the name rebuilds the row; any other row is returned as it was
    (and rejected)."""
    if header[:2] != ["user", "arn"]:
        return record
    extra = record.get("__extra__")
    values = [record.get(column) for column in header]
    if not isinstance(extra, list) or not all(isinstance(v, str) for v in values):
        return record
    raw = [str(v) for v in values] + [str(v) for v in extra]
    arn_end = len(raw) - len(header) + 2  # the columns after the ARN hold no commas
    found = []
    for name_end in range(1, arn_end):
        name, arn = ",".join(raw[:name_end]), ",".join(raw[name_end:arn_end])
        match = _USER_ARN.match(arn)
        if match is not None and match["name"] == name:
            found.append([name, arn, *raw[arn_end:]])
    if len(found) != 1:
        return record
    return dict(zip(header, found[0], strict=True))


def _parse_row(record: Mapping[str, str | list[str] | None]) -> ReportRow:
    if record.get("__extra__") is not None:
        raise _RowError("more fields than the header (unquoted comma?)")
    if any(value is None for value in record.values()):
        raise _RowError("fewer fields than the header")
    fields = {key: value for key, value in record.items() if isinstance(value, str)}

    user, arn = fields["user"], fields["arn"]
    _check_identity(user, arn)
    row = ReportRow(
        user=user,
        arn=arn,
        user_creation_time=_timestamp(fields, "user_creation_time"),
        password_enabled=_flag(fields, "password_enabled"),
        password_last_used=_timestamp(fields, "password_last_used"),
        password_last_changed=_timestamp(fields, "password_last_changed"),
        password_next_rotation=_timestamp(fields, "password_next_rotation"),
        mfa_active=_flag(fields, "mfa_active"),
        access_key_1=_key_slot(fields, 1),
        access_key_2=_key_slot(fields, 2),
        cert_1=CertSlot(_flag(fields, "cert_1_active"), _timestamp(fields, "cert_1_last_rotated")),
        cert_2=CertSlot(_flag(fields, "cert_2_active"), _timestamp(fields, "cert_2_last_rotated")),
    )
    if not row.is_root and row.user_creation_time is None:
        raise _RowError("user row without user_creation_time")
    return row


def _check_identity(user: str, arn: str) -> None:
    if user == ROOT_USER:
        if not _ROOT_ARN.match(arn):
            raise _RowError("root row with a non-root ARN")
        return
    match = _USER_ARN.match(arn)
    if match is None:
        raise _RowError("ARN is not an IAM user ARN")
    if match["name"] != user:
        raise _RowError("user name does not match the last segment of its ARN")


def _key_slot(fields: Mapping[str, str], n: int) -> KeySlot:
    slot = KeySlot(
        active=_flag(fields, f"access_key_{n}_active"),
        last_rotated=_timestamp(fields, f"access_key_{n}_last_rotated"),
        last_used_date=_timestamp(fields, f"access_key_{n}_last_used_date"),
        last_used_region=_text(fields, f"access_key_{n}_last_used_region"),
        last_used_service=_text(fields, f"access_key_{n}_last_used_service"),
    )
    if slot.last_rotated is not None and slot.active is None:
        # Guessing the status of a real key could get it deleted: refuse the row instead.
        raise _RowError(f"access_key_{n} has a date but no active flag")
    return slot


def _text(fields: Mapping[str, str], column: str) -> str | None:
    value = fields.get(column, "").strip()
    return None if value in _EMPTY else value


def _flag(fields: Mapping[str, str], column: str) -> bool | None:
    value = _text(fields, column)
    if value is None:
        return None
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise _RowError(f"{column} is not true/false")


def _timestamp(fields: Mapping[str, str], column: str) -> datetime | None:
    value = _text(fields, column)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _RowError(f"{column} is not an ISO-8601 timestamp") from None
    # AWS always writes an offset; a bare timestamp is read as UTC rather than as local time.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def row_to_user(
    row: ReportRow,
    *,
    path: str | None = None,
    created: datetime | None = None,
    user_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    attached_policies: tuple[str, ...] = (),
    inline_policies: tuple[str, ...] = (),
    groups: tuple[str, ...] = (),
    permissions_boundary: str | None = None,
) -> User:
    """The domain view of one report row: keys without ids (the report has none), `keys_resolved=False`.
    `path`, `created`, `user_id` and `tags` come from the authorization details when the caller has them
    (one construction instead of a copy per user).

    A slot's `last_rotated` is its key's CreateDate (IAM writes the creation time there), which is what
    `resolve_keys` later matches `ListAccessKeys` against."""
    keys = tuple(
        AccessKey(
            created=slot.last_rotated,
            status=KeyStatus.ACTIVE if slot.active else KeyStatus.INACTIVE,
            last_used=slot.last_used_date,
        )
        for slot in row.key_slots
        if slot.last_rotated is not None
    )
    login_profile = None
    if row.password_enabled:
        password_set = row.password_last_changed or row.user_creation_time
        if password_set is not None:
            login_profile = LoginProfile(created=password_set, last_used=row.password_last_used)
    return User(
        name=row.user,
        arn=row.arn,
        path=path if path is not None else row.path,
        created=created if created is not None else row.user_creation_time,
        user_id=user_id,
        tags=dict(tags) if tags is not None else {},
        access_keys=keys,
        login_profile=login_profile,
        mfa_active=bool(row.mfa_active),
        attached_policies=attached_policies,
        inline_policies=inline_policies,
        groups=groups,
        permissions_boundary=permissions_boundary,
    )
