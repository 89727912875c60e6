"""Hands a new access key over to its owner through a Secrets Manager secret that only the owner (and the
automation) may read. The secret access key is never logged, never put in an exception, never returned.

A secret is named `<prefix>/<escaped user name>` (`secret_name_for`); its value is the JSON object
`{"UserName", "AccessKeyId", "SecretAccessKey", "CreateDate"}` with `CreateDate` in ISO-8601.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import AwsError, NotFound, translate
from credlife.domain.models import User

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import TagTypeDef

log = logging.getLogger("credlife.secrets")

#: What this adapter calls.
REQUIRED_ACTIONS: Final = (
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:TagResource",  # CreateSecret with Tags needs it too
    "secretsmanager:DescribeSecret",  # version labels only: does the secret hand out a journalled key
    "secretsmanager:UpdateSecretVersionStage",  # withdraws a version whose key is being deleted
)
CURRENT: Final = "AWSCURRENT"
PREVIOUS: Final = "AWSPREVIOUS"
#: Read permissions the resource policy grants to the key's owner (and the automation).
READ_ACTIONS: Final = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")
DEFAULT_PREFIX: Final = "credlife/access-keys"
MANAGED_BY_TAG: Final = ("managed-by", "credential-lifecycle")
USER_TAG: Final = "credlife:user"

#: IAM user names: letters, digits and `+=,.@_-`, 1 to 64 characters.
IAM_USER_NAME: Final = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
#: Characters Secrets Manager allows in a secret name.
SECRET_NAME: Final = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
_PREFIX: Final = re.compile(r"[A-Za-z0-9/_+=.@-]{1,200}")
_ESCAPES: Final = {"_": "__", ",": "_c"}


def secret_name_for(prefix: str, user_name: str) -> str:
    """`<prefix>/<user name escaped>`: `_` becomes `__` and `,` (allowed in IAM user names, not in secret
    names) becomes `_c`. Every `_` of the result starts a two-character escape, so the mapping is injective
    (`user_name_from_secret` inverts it)."""
    if not _PREFIX.fullmatch(prefix) or prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"invalid secret prefix {prefix!r}")
    if not IAM_USER_NAME.fullmatch(user_name):
        raise ValueError(f"invalid IAM user name {user_name!r}")
    escaped = "".join(_ESCAPES.get(char, char) for char in user_name)
    return f"{prefix}/{escaped}"


def user_name_from_secret(prefix: str, secret_name: str) -> str:
    """The IAM user name a secret named by `secret_name_for(prefix, ...)` belongs to."""
    head = f"{prefix}/"
    if not secret_name.startswith(head):
        raise ValueError(f"secret {secret_name!r} is not under prefix {prefix!r}")
    escaped, chars, index = secret_name[len(head) :], [], 0
    while index < len(escaped):
        char = escaped[index]
        if char == "_":
            pair = escaped[index : index + 2]
            if pair == "__":
                chars.append("_")
            elif pair == "_c":
                chars.append(",")
            else:
                raise ValueError(f"secret {secret_name!r} has an invalid escape")
            index += 2
        else:
            chars.append(char)
            index += 1
    return "".join(chars)


def read_policy(secret_readers: list[str]) -> dict[str, Any]:
    """Resource policy: the listed principals may read the secret, and every other principal is denied
    `GetSecretValue` (an Allow alone would not stop principals whose identity policy allows it)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnerMayRead",
                "Effect": "Allow",
                "Principal": {"AWS": secret_readers},
                "Action": list(READ_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "NobodyElseMayRead",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": secret_readers}},
            },
        ],
    }


class KeyVault:
    """Stores new access keys in Secrets Manager."""

    def __init__(
        self,
        client: SecretsManagerClient | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        kms_key_id: str | None = None,
        automation_principal_arn: str | None = None,
        counter: ApiCallCounter | None = None,
        reader_of: Callable[[User], str | None] | None = None,
    ) -> None:
        secret_name_for(prefix, "probe")  # validates the prefix at construction, not at the first rotation
        self.prefix = prefix
        self.kms_key_id = kms_key_id
        self.automation_principal_arn = automation_principal_arn
        #: A configured extra reader of a user's secret (e.g. the owner's role, from a tag or the path).
        self.reader_of = reader_of
        self._client: SecretsManagerClient = client if client is not None else boto3.client("secretsmanager")
        if counter is not None:
            counter.attach(self._client)

    def secret_name(self, user_name: str) -> str:
        return secret_name_for(self.prefix, user_name)

    def store_new_key(
        self,
        user: User,
        access_key_id: str,
        secret_access_key: str,
        created: datetime,
        *,
        version: str | None = None,
    ) -> str:
        """Put the key in the user's secret and return the secret's name. Raises `AwsError` (never
        carrying the secret) on failure.

        Order, so that a reader never gets a key that is not handed over: the secret is created without a
        value on first use, its read policy is set, and only then is the value written (as the current
        version, id `version` when given: the rotation journal's handle on it). A failure before the last
        call left the current value as it was; if the last call's outcome is unknown, `withdraw` tells."""
        name = self.secret_name(user.name)
        if created.tzinfo is None:
            raise ValueError("the key's creation date must be timezone-aware")
        value = json.dumps(
            {
                "UserName": user.name,
                "AccessKeyId": access_key_id,
                "SecretAccessKey": secret_access_key,
                "CreateDate": created.astimezone(UTC).isoformat(),
            }
        )
        with suppress_wire_logs():
            with contextlib.suppress(_AlreadyExists):  # a later rotation: a new version of the same secret
                self._create(name, user)
            self._put_policy(name, user)
            self._put_value(name, value, version)
        log.info(
            "stored a new access key", extra={"user": user.name, "key_id": access_key_id, "secret": name}
        )
        return name

    def is_current(self, name: str, version: str) -> bool:
        """Whether `version` of secret `name` is its current value (False when the secret or the version
        does not exist). Reads the version labels only, never a value."""
        try:
            stages = self._stages(name)
        except NotFound:
            return False
        return CURRENT in stages.get(version, ())

    def withdraw(self, user_name: str, name: str, version: str) -> str:
        """Make sure secret `name` no longer hands out `version` (a key that is being deleted): its current
        label goes back to the previous version, or, when there is none, the current value becomes a
        marker naming no key. Returns what was done (for the audit)."""
        try:
            stages = self._stages(name)
        except NotFound:
            return "no secret"
        if CURRENT not in stages.get(version, ()):
            return "the secret does not hand out the withdrawn key"
        previous = next((v for v, labels in stages.items() if PREVIOUS in labels and v != version), None)
        if previous is not None:
            self._call(
                "UpdateSecretVersionStage",
                lambda: self._client.update_secret_version_stage(
                    SecretId=name, VersionStage=CURRENT, RemoveFromVersionId=version, MoveToVersionId=previous
                ),
            )
            return f"the secret's current value is its previous version {previous} again"
        marker = json.dumps(
            {
                "UserName": user_name,
                "AccessKeyId": None,
                "SecretAccessKey": None,
                "CreateDate": None,
                "Withdrawn": "the key this secret held was never handed over and has been deleted",
            }
        )
        self._put_value(name, marker, None)
        return "the secret's current value is a marker naming no key (it had no earlier version)"

    def _stages(self, name: str) -> dict[str, list[str]]:
        described = self._call("DescribeSecret", lambda: self._client.describe_secret(SecretId=name))
        return {str(k): list(v) for k, v in (described.get("VersionIdsToStages") or {}).items()}

    def _put_policy(self, name: str, user: User) -> None:
        readers = [user.arn]
        if self.automation_principal_arn and self.automation_principal_arn != user.arn:
            readers.append(self.automation_principal_arn)
        reader = self.reader_of(user) if self.reader_of is not None else None
        if reader and reader not in readers:
            readers.append(reader)
        policy = json.dumps(read_policy(readers))
        self._call(
            "PutResourcePolicy",
            lambda: self._client.put_resource_policy(
                SecretId=name, ResourcePolicy=policy, BlockPublicPolicy=True
            ),
        )

    def _put_value(self, name: str, value: str, version: str | None) -> None:
        with suppress_wire_logs():
            if version is None:
                self._call(
                    "PutSecretValue", lambda: self._client.put_secret_value(SecretId=name, SecretString=value)
                )
            else:
                self._call(
                    "PutSecretValue",
                    lambda: self._client.put_secret_value(
                        SecretId=name, SecretString=value, ClientRequestToken=version
                    ),
                )

    def _create(self, name: str, user: User) -> None:
        """The secret without a value (nothing readable until the policy is set and the value written)."""
        tags: list[TagTypeDef] = [
            {"Key": USER_TAG, "Value": user.name},
            {"Key": MANAGED_BY_TAG[0], "Value": MANAGED_BY_TAG[1]},
        ]
        description = "Access key handed over by credential-lifecycle; readable only by its owner."
        kms_key_id = self.kms_key_id

        def create() -> object:
            if kms_key_id:
                return self._client.create_secret(
                    Name=name, Description=description, Tags=tags, KmsKeyId=kms_key_id
                )
            return self._client.create_secret(Name=name, Description=description, Tags=tags)

        self._call("CreateSecret", create)

    def _call(self, operation: str, call: Any) -> Any:
        """Run one call; errors become `AwsError`, raised outside the `except` block so that not even
        `__context__` keeps botocore's error (its parameter validation errors echo parameter values, and
        the secret is one of them)."""
        failure: Exception
        try:
            return call()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if operation == "CreateSecret" and code == "ResourceExistsException":
                failure = _AlreadyExists()
            else:
                failure = translate(error, f"secretsmanager:{operation}")
        except BotoCoreError as error:
            failure = AwsError(f"secretsmanager:{operation}", type(error).__name__)
        raise failure


class _AlreadyExists(Exception):
    pass


# -- keeping the secret out of botocore's debug logs ---------------------------------------------------

#: botocore's DEBUG logs print request parameters and response bodies (the new key and the secret value).
_WIRE_LOGGERS: Final = ("botocore.endpoint", "botocore.parsers", "botocore.awsrequest")
_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("credlife_quiet_wire_logs", default=False)


class _DropWhileQuiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (_quiet.get() and record.levelno < logging.INFO)


_FILTER = _DropWhileQuiet()


@contextlib.contextmanager
def suppress_wire_logs() -> Iterator[None]:
    """Drop botocore's DEBUG records while a call carrying a secret is in flight (in this context only)."""
    for name in _WIRE_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)
