"""Inventory adapter: every IAM user of one account at a cost that does not grow with the number of users.

The credential report (keys, passwords, MFA, last-used dates for all users in one CSV) is joined with
`GetAccountAuthorizationDetails` (path, tags, user id, exact creation date, a few pages for all users).
Key ids are absent from the report; `resolve_keys` fetches them with one `ListAccessKeys` per user, and only
for users the planner wants to act on. IAM throttles hard, so every call is counted and backs off with
deterministic delays through an injected `sleep`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import boto3
from botocore.exceptions import ClientError

from credlife.aws import credentials
from credlife.aws.calls import ApiCallCounter
from credlife.aws.credential_report import CredentialReport, parse_credential_report, row_to_user
from credlife.aws.errors import AwsError, ReportNotReady, Throttled, translate
from credlife.domain.models import AccessKey, KeyStatus, User
from credlife.domain.root import RootAccount

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import AccessKeyMetadataTypeDef, UserDetailTypeDef
    from mypy_boto3_sts import STSClient

logger = logging.getLogger("credlife.inventory")

REQUIRED_ACTIONS = (
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:GetAccountAuthorizationDetails",
    "iam:ListAccessKeys",
    "sts:GetCallerIdentity",
    # account facts and the login-profile reset flag, through `credentials.CredentialInventory`
    *credentials.SCAN_ACTIONS,
)

#: Items per `GetAccountAuthorizationDetails` page: IAM's maximum.
PAGE_SIZE = 1000

#: Longest single back-off wait: keeps a run inside a Lambda timeout even with many attempts.
MAX_DELAY_S = 60.0

#: Error codes after which the report must be generated again rather than waited for.
_REGENERATE = frozenset({"ReportNotPresent", "ReportExpired"})

_T = TypeVar("_T")


class IamInventory:
    """`InventoryPort` over boto3. Clients are created here (never at import) unless injected by tests."""

    def __init__(
        self,
        iam_client: IAMClient | None = None,
        sts_client: STSClient | None = None,
        *,
        counter: ApiCallCounter | None = None,
        sleep: Callable[[float], None] | None = None,
        max_attempts: int = 10,
        base_delay_s: float = 1.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._iam: IAMClient = iam_client if iam_client is not None else boto3.client("iam")
        self._sts: STSClient = sts_client if sts_client is not None else boto3.client("sts")
        if counter is not None:
            counter.attach(self._iam)
            counter.attach(self._sts)
        # Looked up now, not at import: a host (or test) that replaced `time.sleep` gets its replacement.
        self._sleep = sleep if sleep is not None else time.sleep
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._account_id: str | None = None
        #: The last parsed report: its `root` row and `rejected` count are read by callers after `users()`.
        self.last_report: CredentialReport | None = None
        #: `GeneratedTime` of the last report (IAM serves a report up to 4 hours old).
        self.report_generated_at: datetime | None = None

    # -- public API ---------------------------------------------------------------------------------------

    def account_id(self) -> str:
        """The account these clients act in (one `sts:GetCallerIdentity`, then cached)."""
        if self._account_id is None:
            identity = self._with_backoff(
                "GetCallerIdentity", lambda: self._call("GetCallerIdentity", self._sts.get_caller_identity)
            )
            self._account_id = identity["Account"]
        return self._account_id

    def users(self) -> tuple[User, ...]:
        """Every IAM user from the credential report, with path, tags, id and creation date from the
        authorization details. Keys carry no ids (`keys_resolved=False`)."""
        report = parse_credential_report(self._report_text())
        self.last_report = report
        details = self._user_details()

        users: list[User] = []
        for row in report.users:
            detail = details.pop(row.user, None)
            if detail is None or detail["Arn"] != row.arn:
                # Deleted, or deleted and re-created elsewhere, between the two calls: keep the report's
                # facts (path from its ARN) and say so; the next scan sees the account settled.
                logger.warning(
                    "user %s in the credential report has no matching authorization details (%s)",
                    row.user,
                    "missing" if detail is None else "ARN differs",
                )
                users.append(row_to_user(row))
                continue
            users.append(
                row_to_user(
                    row,
                    path=detail["Path"],
                    created=_utc(detail["CreateDate"]),
                    user_id=detail["UserId"],
                    tags={tag["Key"]: tag["Value"] for tag in detail.get("Tags", ())},
                    attached_policies=tuple(
                        p["PolicyArn"] for p in detail.get("AttachedManagedPolicies", ()) if "PolicyArn" in p
                    ),
                    inline_policies=tuple(
                        p["PolicyName"] for p in detail.get("UserPolicyList", ()) if "PolicyName" in p
                    ),
                    groups=tuple(detail.get("GroupList", ())),
                    permissions_boundary=detail.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
                )
            )
        if details and report.rejected:
            # Some of them may be the rejected rows' users: never say "newer" of a user that is not.
            logger.warning(
                "%d users are not in the credential report as read (%d rows could not be read; the others "
                "are newer than the report): their credentials are not managed until a row reads",
                len(details),
                report.rejected,
            )
        elif details:
            # Created after the report was generated: their keys and passwords are unknown until the next
            # report, and nothing about them can be due yet.
            logger.info(
                "%d users are newer than the credential report and wait for the next scan", len(details)
            )
        return tuple(users)

    def root_account(self) -> RootAccount | None:
        """The `<root_account>` row of the last report read by `users()` (None: no root row, e.g. moto)."""
        root = self.last_report.root if self.last_report is not None else None
        if root is None:
            return None
        return RootAccount(
            mfa_active=bool(root.mfa_active),
            access_keys_active=tuple(bool(slot.active) for slot in root.key_slots),
            password_last_used=root.password_last_used,
            access_keys_last_used=tuple(slot.last_used_date for slot in root.key_slots),
        )

    def resolve_keys(self, user: User) -> User:
        """The user with key ids, exact status and creation dates from one paginated `ListAccessKeys`.

        Keys are matched to the report's by creation time to the second, keeping the report's last-used
        dates; keys newer than the report are added with no last-used date; keys deleted since are dropped.
        Raises `NotFound` when the user no longer exists."""
        metadata = self._with_backoff("ListAccessKeys", lambda: self._list_access_keys(user.name))
        unmatched = list(user.access_keys)
        resolved: list[AccessKey] = []
        for meta in sorted(metadata, key=lambda m: m["CreateDate"]):
            created = _to_second(meta["CreateDate"])
            match = next((key for key in unmatched if _to_second(key.created) == created), None)
            if match is not None:
                unmatched.remove(match)
            resolved.append(
                AccessKey(
                    created=created,
                    status=KeyStatus(meta["Status"]),
                    last_used=match.last_used if match is not None else None,
                    key_id=meta["AccessKeyId"],
                )
            )
        if unmatched:
            logger.info("user %s: %d reported keys were deleted since the report", user.name, len(unmatched))
        return replace(user, access_keys=tuple(resolved), keys_resolved=True)

    # -- credential report --------------------------------------------------------------------------------

    def _report_text(self) -> str:
        """Generate until COMPLETE, then get. Waits out throttling and in-progress reports with
        exponential delays; regenerates a missing or expired report; gives up after `max_attempts`."""
        last_error: AwsError | None = None
        waits = 0
        for attempt in range(1, self._max_attempts + 1):
            must_wait = True
            try:
                state = self._call("GenerateCredentialReport", self._iam.generate_credential_report)["State"]
                if state == "COMPLETE":
                    response = self._call("GetCredentialReport", self._iam.get_credential_report)
                    self.report_generated_at = _utc(response["GeneratedTime"])
                    return response["Content"].decode("utf-8")
                last_error = None
            except Throttled as error:
                last_error = error
            except ReportNotReady as error:
                last_error = error
                must_wait = error.code not in _REGENERATE
            if must_wait and attempt < self._max_attempts:
                if isinstance(last_error, Throttled):
                    _log_retry(last_error, attempt, self._delay(waits))
                self._sleep(self._delay(waits))
                waits += 1
        if isinstance(last_error, Throttled):
            raise Throttled(
                last_error.operation, last_error.code, f"gave up after {self._max_attempts} attempts"
            ) from last_error
        operation, code = (
            (last_error.operation, last_error.code)
            if last_error
            else ("GenerateCredentialReport", "NotComplete")
        )
        raise ReportNotReady(
            operation, code, f"no credential report after {self._max_attempts} attempts"
        ) from last_error

    # -- other calls --------------------------------------------------------------------------------------

    def _user_details(self) -> dict[str, UserDetailTypeDef]:
        def fetch() -> dict[str, UserDetailTypeDef]:
            paginator = self._iam.get_paginator("get_account_authorization_details")
            try:
                return {
                    detail["UserName"]: detail
                    # 1,000 per page (IAM's maximum; its default is 100): ceil(users / 1000) calls
                    for page in paginator.paginate(Filter=["User"], PaginationConfig={"PageSize": PAGE_SIZE})
                    for detail in page.get("UserDetailList", [])
                }
            except ClientError as error:
                raise translate(error, "GetAccountAuthorizationDetails") from error

        return self._with_backoff("GetAccountAuthorizationDetails", fetch)

    def _list_access_keys(self, user_name: str) -> list[AccessKeyMetadataTypeDef]:
        """Paginated by hand: a paginator object per user costs more than the call itself under moto, and
        a user has at most two keys (one page)."""
        found: list[AccessKeyMetadataTypeDef] = []
        marker: str | None = None
        try:
            while True:
                page = (
                    self._iam.list_access_keys(UserName=user_name, Marker=marker)
                    if marker
                    else self._iam.list_access_keys(UserName=user_name)
                )
                found.extend(page["AccessKeyMetadata"])
                marker = page.get("Marker") if page.get("IsTruncated") else None
                if not marker:
                    return found
        except ClientError as error:
            raise translate(error, "ListAccessKeys") from error

    def _with_backoff(self, operation: str, fetch: Callable[[], _T]) -> _T:
        """Retry `fetch` on throttling only (a paginated listing restarts from its first page)."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                return fetch()
            except Throttled as error:
                if attempt == self._max_attempts:
                    raise
                _log_retry(error, attempt, self._delay(attempt - 1))
                self._sleep(self._delay(attempt - 1))
        raise AssertionError(f"{operation}: unreachable")  # pragma: no cover

    @staticmethod
    def _call(operation: str, method: Callable[[], _T]) -> _T:
        try:
            return method()
        except ClientError as error:
            raise translate(error, operation) from error

    def _delay(self, waits_so_far: int) -> float:
        """Deterministic exponential back-off: base, 2 x base, 4 x base, ... capped at `MAX_DELAY_S`."""
        return float(min(self._base_delay_s * (2**waits_so_far), MAX_DELAY_S))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _to_second(value: datetime) -> datetime:
    """IAM's key timestamps are whole seconds (the report's too); moto adds microseconds. Truncating keeps
    `key_ref(user, created)` identical before and after `resolve_keys`."""
    return _utc(value).replace(microsecond=0)


def _log_retry(error: Throttled, attempt: int, delay_s: float) -> None:
    """Say that a throttled call waits for its next try (the CLI shows it, so a long back-off is never
    silent); `retrying` carries the IAM action for whoever displays it."""
    logger.warning(
        "AWS throttled %s; retrying in %.0f s (attempt %d)",
        error.action or error.operation,
        delay_s,
        attempt + 1,
        extra={"retrying": error.action or error.operation, "attempt": attempt + 1, "delay_s": delay_s},
    )
