"""Organization mode adapters: which accounts to scan (Organizations), one queue message per account (SQS),
and a session in a member account (STS AssumeRole).

Costs stay small at organization scale: `ListAccounts` pages (20 accounts each); one
`ListAccountsForParent`/`ListOrganizationalUnitsForParent` walk per configured OU (not per account); one
`ListTagsForResource` per active account only when tag filters are configured; `SendMessageBatch` with ten
messages per call. Every call goes through `errors.translate`; throttling is left to botocore's adaptive
retries (`factory.RETRIES`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.exceptions import ClientError

from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import translate
from credlife.config import OrganizationSettings

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sts import STSClient

log = logging.getLogger("credlife.organizations")

#: What `AccountDirectory` calls (the scheduler's role in the management or delegated admin account).
DIRECTORY_ACTIONS: Final = (
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListTagsForResource",
)
#: What `AccountQueue` calls (SendMessageBatch is authorised by sqs:SendMessage).
QUEUE_ACTIONS: Final = ("sqs:SendMessage",)
#: What `MemberSessions` calls (the account worker's role, on the member role ARN pattern).
MEMBER_SESSION_ACTIONS: Final = ("sts:AssumeRole",)
#: Everything the scheduler calls in organization mode, beside the single-account lifecycle's actions.
REQUIRED_ACTIONS: Final = (*DIRECTORY_ACTIONS, *QUEUE_ACTIONS)

_SQS_BATCH = 10


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    name: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccountMessage:
    """The body of one account-queue message: which account, and the run's clock (the scheduled time)."""

    account_id: str
    time: datetime
    name: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {"account_id": self.account_id, "time": self.time.astimezone(UTC).isoformat(), "name": self.name},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, body: str) -> AccountMessage:
        """Raises `ValueError` for anything but `{"account_id": <12 digits>, "time": <ISO with zone>}`."""
        try:
            data = json.loads(body)
        except json.JSONDecodeError as error:
            raise ValueError(f"message body is not JSON: {error.msg}") from None
        if not isinstance(data, dict):
            raise ValueError("message body is not a JSON object")
        account = data.get("account_id")
        if not isinstance(account, str) or len(account) != 12 or not account.isdigit():
            raise ValueError("account_id must be a 12-digit string")
        raw = data.get("time")
        if not isinstance(raw, str):
            raise ValueError("time must be an ISO-8601 string")
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if when.tzinfo is None:
            raise ValueError("time must carry a time zone")
        name = data.get("name", "")
        return cls(account, when.astimezone(UTC), name if isinstance(name, str) else "")


class AccountDirectory:
    """The organization's active accounts, filtered by the configured ids, OUs and tags."""

    REQUIRED_ACTIONS = DIRECTORY_ACTIONS

    def __init__(self, client: OrganizationsClient | None = None, *, counter: ApiCallCounter | None = None):
        self._client: OrganizationsClient = client if client is not None else boto3.client("organizations")
        if counter is not None:
            counter.attach(self._client)

    def accounts(self, settings: OrganizationSettings) -> list[Account]:
        """Active accounts to scan, in the order Organizations lists them."""
        listed = [
            Account(str(a["Id"]), str(a.get("Name", "")))
            for a in self._pages("ListAccounts", "list_accounts", "Accounts")
            if _active(a)
        ]
        chosen = [a for a in listed if _id_allowed(a.account_id, settings)]
        if settings.include_ous:
            inside = self._accounts_under(settings.include_ous)
            chosen = [a for a in chosen if a.account_id in inside]
        if settings.exclude_ous:
            outside = self._accounts_under(settings.exclude_ous)
            chosen = [a for a in chosen if a.account_id not in outside]
        if settings.include_tags or settings.exclude_tags:
            tagged = [Account(a.account_id, a.name, self._tags(a.account_id)) for a in chosen]
            chosen = [a for a in tagged if _tags_allowed(a.tags, settings)]
        return chosen

    def _accounts_under(self, parents: Iterable[str]) -> set[str]:
        """Account ids under the given roots/OUs, nested OUs included (a walk per OU, not per account)."""
        found: set[str] = set()
        pending, seen = list(parents), set()
        while pending:
            parent = pending.pop()
            if parent in seen:
                continue
            seen.add(parent)
            found.update(
                str(a["Id"])
                for a in self._pages("ListAccountsForParent", "list_accounts_for_parent", "Accounts", parent)
            )
            pending.extend(
                str(ou["Id"])
                for ou in self._pages(
                    "ListOrganizationalUnitsForParent",
                    "list_organizational_units_for_parent",
                    "OrganizationalUnits",
                    parent,
                )
            )
        return found

    def _tags(self, account_id: str) -> dict[str, str]:
        return {
            str(t["Key"]): str(t["Value"])
            for t in self._pages("ListTagsForResource", "list_tags_for_resource", "Tags", account_id)
        }

    def _pages(self, operation: str, method: str, key: str, parent: str | None = None) -> list[Any]:
        kwargs: dict[str, Any] = {}
        if parent is not None:
            kwargs["ResourceId" if method == "list_tags_for_resource" else "ParentId"] = parent
        items: list[Any] = []
        try:
            for page in self._client.get_paginator(method).paginate(**kwargs):  # type: ignore[call-overload]
                items.extend(page.get(key, []))
        except ClientError as error:
            raise translate(error, f"organizations:{operation}") from error
        return items


class AccountQueue:
    """One message per account on the account queue (SendMessageBatch, ten per call)."""

    REQUIRED_ACTIONS = QUEUE_ACTIONS

    def __init__(
        self, queue_url: str, client: SQSClient | None = None, *, counter: ApiCallCounter | None = None
    ) -> None:
        self.queue_url = queue_url
        self._client: SQSClient = client if client is not None else boto3.client("sqs")
        if counter is not None:
            counter.attach(self._client)

    def send(self, messages: Iterable[AccountMessage]) -> list[str]:
        """Queue every message; returns the account ids that could not be queued (reported, not raised:
        one account's failure never stops the others)."""
        pending = list(messages)
        failed: list[str] = []
        for start in range(0, len(pending), _SQS_BATCH):
            batch = pending[start : start + _SQS_BATCH]
            entries = [{"Id": str(i), "MessageBody": m.to_json()} for i, m in enumerate(batch)]
            try:
                response = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)  # type: ignore[arg-type]
            except ClientError as error:
                aws_error = translate(error, "sqs:SendMessageBatch")
                log.error("queueing accounts failed", extra={"error": str(aws_error)})
                failed.extend(m.account_id for m in batch)
                continue
            for entry in response.get("Failed", []):
                account = batch[int(entry["Id"])].account_id
                log.error("queueing an account failed", extra={"account_id": account, "code": entry["Code"]})
                failed.append(account)
        return failed


class MemberSessions:
    """A boto3 session acting in a member account through its lifecycle role (one AssumeRole each)."""

    REQUIRED_ACTIONS = MEMBER_SESSION_ACTIONS

    def __init__(
        self,
        settings: OrganizationSettings,
        client: STSClient | None = None,
        *,
        region: str | None = None,
        session_factory: Callable[..., boto3.Session] = boto3.Session,
        counter: ApiCallCounter | None = None,
    ) -> None:
        self._settings = settings
        self._sts: STSClient = client if client is not None else boto3.client("sts")
        if counter is not None:
            counter.attach(self._sts)
        self._region = region
        self._session_factory = session_factory

    def session_for(self, account_id: str, *, duration_s: int = 3600) -> boto3.Session:
        """Raises `AccessDenied` (no role, or it does not trust us), `Throttled`, or `AwsError`."""
        role_arn = self._settings.member_role_arn(account_id)
        try:
            credentials = self._sts.assume_role(
                RoleArn=role_arn, RoleSessionName=f"credlife-{account_id}", DurationSeconds=duration_s
            )["Credentials"]
        except ClientError as error:
            raise translate(error, "sts:AssumeRole") from error
        return self._session_factory(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=self._region,
        )


def _active(account: Mapping[str, Any]) -> bool:
    # `State` replaces the deprecated `Status` in newer API versions; either may be present.
    state = account.get("State") or account.get("Status")
    return state == "ACTIVE"


def _id_allowed(account_id: str, settings: OrganizationSettings) -> bool:
    if settings.include_accounts and account_id not in settings.include_accounts:
        return False
    return account_id not in settings.exclude_accounts


def _tags_allowed(tags: Mapping[str, str], settings: OrganizationSettings) -> bool:
    if any(tags.get(k) != v for k, v in settings.include_tags.items()):
        return False
    return not any(tags.get(k) == v for k, v in settings.exclude_tags.items())


__all__ = [
    "Account",
    "AccountDirectory",
    "AccountMessage",
    "AccountQueue",
    "MemberSessions",
]
