"""Fresh facts read from IAM right before a disruptive step (DESIGN "Read before you break").

The plan is made from the credential report, which can be up to 4 hours old: a key or a console password
used since then (as the owner's warning asked) must not be deactivated or deleted on the report's word.
Each method is one read-only call for one credential; the executors call them only for the few steps
that are about to disrupt something."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import AwsError, NotFound, translate

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient

REQUIRED_ACTIONS: Final = (
    "iam:GetAccessKeyLastUsed",
    "iam:GetLoginProfile",
    "iam:GetUser",
    "iam:ListMFADevices",
)

#: A fresh last-used date counts as a use after the plan only when it is later than the plan's by more
#: than this: the same use reported by two APIs must never look like a new one (IAM tracks last use in
#: coarse steps; a new use shows up at least one step later).
TOLERANCE: Final = timedelta(minutes=1)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ConsoleFacts:
    """A user's console password as IAM has it now (None: the user has no console password)."""

    created: datetime | None
    last_used: datetime | None
    mfa_devices: int


def used_since(fresh: datetime | None, planned: datetime | None) -> bool:
    """The credential was used after the last-used date the plan relied on (None: never used)."""
    if fresh is None:
        return False
    return planned is None or _utc(fresh) > _utc(planned) + TOLERANCE


class FreshFacts:
    """Read-only IAM lookups of one credential's current facts."""

    def __init__(self, iam_client: IAMClient | None = None, *, counter: ApiCallCounter | None = None) -> None:
        self._iam: IAMClient = iam_client if iam_client is not None else boto3.client("iam")
        if counter is not None:
            counter.attach(self._iam)

    def access_key_last_used(self, key_id: str) -> datetime | None:
        """The key's last-used date now (None: never used). Raises `NotFound` when the key is gone."""
        iam = self._iam
        response = self._call(
            "GetAccessKeyLastUsed", lambda: iam.get_access_key_last_used(AccessKeyId=key_id)
        )
        used = response.get("AccessKeyLastUsed", {}).get("LastUsedDate")
        return _utc(used) if used is not None else None

    def console(self, user: str) -> ConsoleFacts:
        """The console password's creation and last sign-in, and the user's MFA devices, as of now."""
        try:
            profile = self._call("GetLoginProfile", lambda: self._iam.get_login_profile(UserName=user))
            created: datetime | None = _utc(profile["LoginProfile"]["CreateDate"])
        except NotFound:
            created = None
        found = self._call("GetUser", lambda: self._iam.get_user(UserName=user))["User"]
        last = found.get("PasswordLastUsed")
        devices = self._call("ListMFADevices", lambda: self._iam.list_mfa_devices(UserName=user))
        return ConsoleFacts(
            created=created,
            last_used=_utc(last) if last is not None else None,
            mfa_devices=len(devices.get("MFADevices", [])),
        )

    def _call(self, operation: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except ClientError as error:
            raise translate(error, f"iam:{operation}") from None
        except BotoCoreError as error:
            raise AwsError(f"iam:{operation}", type(error).__name__) from None


def _utc(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)
