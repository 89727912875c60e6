"""End-to-end fixtures: an in-process moto account, sample events from `events/`, a Lambda context, ways to
age keys, fault injection for what moto cannot produce, and a capture of everything that gets logged.

How keys are aged: through moto's stored state (`Account.key`). A key is created with the API, then its
`create_date` is set on `moto.iam.models.iam_backends[ACCOUNT]["global"].users[name].access_keys[i]` as a
naive UTC datetime, and its `last_used` to an `AccessKeyLastUsed(timestamp=<naive UTC>, service="s3",
region="us-east-1")`. moto rebuilds its credential report on every read, so the next inventory sees the
change. Keys the automation itself creates get their CreateDate from moto's clock, which the tests move to the
run's time with `time_machine.travel(now, tick=False)`.
"""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.iam.models import AccessKeyLastUsed, iam_backends

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

ACCOUNT = "123456789012"
REGION = "us-east-1"
EVENTS = Path(__file__).resolve().parents[2] / "events"
SECRET_PREFIX = "credlife/access-keys"
#: The verified SES sender every e2e account has, as a deployment that tells owners has it (without one,
#: owner notices are only logged, never count as received, and nothing disruptive happens).
SENDER = "credlife-sender@example.com"
SENDER_REGIONS = (REGION, "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")


# -- events and context ------------------------------------------------------------------------------


def scheduled_event(at: datetime | None = None) -> dict[str, Any]:
    """`events/scheduled.json`, with its `time` moved to `at` when given."""
    event: dict[str, Any] = json.loads((EVENTS / "scheduled.json").read_text(encoding="utf-8"))
    if at is not None:
        event["time"] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


def event_time(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))


@dataclass
class LambdaContext:
    """The bits of a Lambda context Powertools reads."""

    function_name: str = "credlife-lifecycle"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:credlife-lifecycle"
    aws_request_id: str = "e2e-request"


# -- the moto account --------------------------------------------------------------------------------


def naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def secret_name(user: str) -> str:
    return f"{SECRET_PREFIX}/{user}"


@dataclass
class Account:
    """The moto account: clients plus helpers that seed and read IAM as a test needs it."""

    iam: IAMClient
    sm: SecretsManagerClient
    dynamodb: DynamoDBClient
    users: list[str] = field(default_factory=list)

    def user(self, name: str, *, now: datetime, path: str = "/", tags: dict[str, str] | None = None) -> str:
        self.iam.create_user(
            UserName=name, Path=path, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()]
        )
        iam_backends[ACCOUNT]["global"].users[name].create_date = naive_utc(now - timedelta(days=1000))
        self.users.append(name)
        return name

    def key(
        self, user: str, *, now: datetime, age: float, used_ago: float | None = None, active: bool = True
    ) -> str:
        """A key created `age` days before `now`, last used `used_ago` days before (None: never)."""
        key_id = self.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        if not active:
            self.iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Inactive")
        stored = self.stored_key(user, key_id)
        stored.create_date = naive_utc(now - timedelta(days=age))
        if used_ago is not None:
            self.use(user, key_id, at=now - timedelta(days=used_ago))
        return key_id

    def use(self, user: str, key_id: str, *, at: datetime) -> None:
        """The workload signs a call with the key at `at` (moto's stored last-used date)."""
        self.stored_key(user, key_id).last_used = AccessKeyLastUsed(
            timestamp=naive_utc(at), service="s3", region=REGION
        )

    def stored_key(self, user: str, key_id: str) -> Any:
        for stored in iam_backends[ACCOUNT]["global"].users[user].access_keys:
            if stored.access_key_id == key_id:
                return stored
        raise LookupError(f"{user} has no key {key_id}")

    def keys(self, user: str) -> dict[str, str]:
        """Key id → status, as IAM has it now."""
        return {
            meta["AccessKeyId"]: meta["Status"]
            for meta in self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        }

    def newest_key(self, user: str) -> str:
        metas = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        return max(metas, key=lambda m: m["CreateDate"])["AccessKeyId"]

    def all_keys(self) -> dict[str, dict[str, str]]:
        return {name: self.keys(name) for name in self.users}

    def secret(self, user: str) -> dict[str, Any]:
        value = self.sm.get_secret_value(SecretId=secret_name(user))["SecretString"]
        loaded: dict[str, Any] = json.loads(value)
        return loaded

    def secret_versions(self) -> dict[str, list[str]]:
        """Secret name → its version ids, for every secret in the account."""
        versions: dict[str, list[str]] = {}
        for listed in self.sm.list_secrets()["SecretList"]:
            ids = self.sm.list_secret_version_ids(SecretId=listed["Name"])["Versions"]
            versions[listed["Name"]] = sorted(v["VersionId"] for v in ids)
        return versions

    def table_items(self, table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": table}
        while True:
            page = self.dynamodb.scan(**request)
            items.extend(page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    """A fresh moto account (fake credentials from tests/conftest.py; no profile, no endpoint)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name in ("CREDLIFE_CONFIG", "CREDLIFE_CONFIG_FILE", "CREDLIFE_STATE_TABLE", "CREDLIFE_DRY_RUN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CREDLIFE_SENDER_EMAIL", SENDER)
    with mock_aws():
        for region in SENDER_REGIONS:  # SES identities are regional; tests run in a few regions
            boto3.client("ses", region_name=region).verify_email_identity(EmailAddress=SENDER)
        iam = boto3.client("iam", region_name=REGION)
        # moto answers the first GenerateCredentialReport with STARTED, and the inventory then waits a real
        # second before asking again; a report already generated keeps each run fast. moto rebuilds the
        # report's content on every read, so it still reflects everything seeded later.
        iam.generate_credential_report()
        set_baseline_password_policy(iam)
        yield Account(
            iam=iam,
            sm=boto3.client("secretsmanager", region_name=REGION),
            dynamodb=boto3.client("dynamodb", region_name=REGION),
        )


def set_baseline_password_policy(iam: Any) -> None:
    """The account as a well-run one has it: the password policy at the default baseline (DESIGN §3), so a
    test sees password-policy rows only when it weakens the policy itself."""
    iam.update_account_password_policy(
        MinimumPasswordLength=14,
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        AllowUsersToChangePassword=True,
        MaxPasswordAge=90,
        PasswordReusePrevention=24,
    )


# -- fault injection (only what moto cannot produce) --------------------------------------------------


@contextmanager
def failing(
    operation: str,
    code: str = "InternalServiceError",
    *,
    when: Callable[[dict[str, Any]], bool] = lambda params: True,
) -> Iterator[list[dict[str, Any]]]:
    """Make every call of `operation` (e.g. "CreateSecret") whose parameters match `when` raise a
    `ClientError` with `code`; every other call goes to moto. Yields the parameters of the failed calls."""
    real = BaseClient._make_api_call  # type: ignore[attr-defined]
    failed: list[dict[str, Any]] = []

    def call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name == operation and when(api_params):
            failed.append(copy.deepcopy(api_params))
            raise ClientError({"Error": {"Code": code, "Message": "injected by the test"}}, operation_name)
        return real(self, operation_name, api_params)

    with mock.patch.object(BaseClient, "_make_api_call", call):
        yield failed


# -- everything logged -------------------------------------------------------------------------------


@dataclass
class Logs:
    caplog: pytest.LogCaptureFixture
    #: What the Powertools handlers (bound to stdout at import) wrote, formatted as in CloudWatch.
    stream: io.StringIO

    def text(self) -> str:
        """Every record's message, arguments and extra fields, plus the formatted Powertools output."""
        parts = [self.stream.getvalue()]
        for record in self.caplog.records:
            parts.append(record.getMessage())
            parts.append(repr(record.args))
            parts.append(repr(vars(record)))
            if record.exc_info:
                parts.append(logging.Formatter().formatException(record.exc_info))
        return "\n".join(parts)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Logs]:
    """All loggers at DEBUG (botocore's wire logs included), captured as records and as formatted output."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="credlife")
    stream = io.StringIO()
    handlers = [
        h
        for h in logging.getLogger("credlife").handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    previous = [h.setStream(stream) for h in handlers]
    try:
        yield Logs(caplog, stream)
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            if old is not None:
                handler.setStream(old)
