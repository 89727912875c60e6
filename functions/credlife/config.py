"""Runtime settings: the lifecycle policy plus where the state, secrets and notices go.

Read once at the edge (Lambda cold start, CLI start) from, in increasing priority: defaults, a JSON/YAML
file (`--config FILE` or `CREDLIFE_CONFIG_FILE`), a JSON document in `CREDLIFE_CONFIG`, and single
`CREDLIFE_<FIELD>` variables for the most common switches. The domain never reads the environment."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from credlife.domain.mfa_policy import POLICY_NAME as REQUIRE_MFA_POLICY_NAME
from credlife.domain.owners import (
    DEFAULT_READER_TAG_KEY,
    DEFAULT_TAG_KEYS,
    EMAIL,
    READER_ARN,
    OwnerRules,
    is_email,
)
from credlife.domain.policy import Policy
from credlife.domain.risk import RiskPolicy

ENV_PREFIX = "CREDLIFE_"
#: Scalar settings that may be set one by one from the environment (the CDK stack sets these).
_ENV_FIELDS = (
    "state_table",
    "secret_prefix",
    "kms_key_id",
    "security_topic_arn",
    "sender_email",
    "region",
    "automation_principal_arn",
    "require_mfa_policy_arn",
    "event_clock_tolerance_minutes",
    "own_principal_arns",
)
_ENV_POLICY_FIELDS = ("dry_run",)
#: Organization-mode settings the CDK stack sets one by one (`CREDLIFE_ORGANIZATION_<FIELD>`).
_ENV_ORGANIZATION_FIELDS = ("enabled", "queue_url", "member_role_name")
#: Report and Security Hub settings the CDK stack sets one by one (`CREDLIFE_REPORT_BUCKET`,
#: `CREDLIFE_SECURITY_HUB_ENABLED`).
_ENV_SECTION_FIELDS = (("report", "bucket"), ("security_hub", "enabled"))
_ACCOUNT_ID = r"^\d{12}$"
_OU_ID = r"^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$"


class OrganizationSettings(BaseModel):
    """Organization mode: the scheduled function lists the organization's active accounts and queues one
    message per account; the account worker assumes `member_role_name` in each and runs the lifecycle.

    Filters: an account is processed when it is active, matches every `include_*` filter given (ids, OUs
    (direct or nested), tags: all listed tags with these values) and no `exclude_*` filter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    member_role_name: str = Field(default="credlife-member", pattern=r"^[A-Za-z0-9+=,.@_-]{1,64}$")
    #: The account queue (the CDK stack sets it through `CREDLIFE_ORGANIZATION_QUEUE_URL`).
    queue_url: str | None = None
    partition: str = Field(default="aws", pattern=r"^aws(-[a-z]+)*$")
    include_accounts: tuple[Annotated[str, Field(pattern=_ACCOUNT_ID)], ...] = ()
    exclude_accounts: tuple[Annotated[str, Field(pattern=_ACCOUNT_ID)], ...] = ()
    include_ous: tuple[Annotated[str, Field(pattern=_OU_ID)], ...] = ()
    exclude_ous: tuple[Annotated[str, Field(pattern=_OU_ID)], ...] = ()
    include_tags: dict[str, str] = Field(default_factory=dict)
    exclude_tags: dict[str, str] = Field(default_factory=dict)
    #: Secrets in member accounts use this KMS key (None: the account's AWS managed key).
    member_kms_key_id: str | None = None

    @model_validator(mode="after")
    def _queue_when_enabled(self) -> OrganizationSettings:
        if self.enabled and not self.queue_url:
            raise ValueError("organization mode needs queue_url (the account queue)")
        return self

    def member_role_arn(self, account_id: str) -> str:
        return f"arn:{self.partition}:iam::{account_id}:role/{self.member_role_name}"

    def member_require_mfa_policy_arn(self, account_id: str) -> str:
        """The require-MFA policy the member-role stack creates in each member account (fixed name)."""
        return f"arn:{self.partition}:iam::{account_id}:policy/{REQUIRE_MFA_POLICY_NAME}"


_EMAIL_PATTERN = f"^{EMAIL.pattern}$"


class NotificationSettings(BaseModel):
    """Who is told, and how (owner email through SES v2, the security topic through SNS)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Tags whose value names a user's owner (an email address), first match wins.
    owner_tag_keys: tuple[str, ...] = DEFAULT_TAG_KEYS
    #: Owner per IAM path prefix when no tag names one (longest prefix wins), e.g. {"/service/": "..."}.
    path_owners: dict[str, str] = Field(default_factory=dict)
    #: Owner of last resort, and the address messages give for questions.
    security_email: str = Field(default="security@example.com", pattern=_EMAIL_PATTERN)
    #: The verified SES identity emails come from (falls back to the top-level `sender_email`).
    sender: str | None = Field(default=None, pattern=_EMAIL_PATTERN)
    ses_configuration_set: str | None = None
    #: A user tag whose value (an IAM role or user ARN) may also read the user's new-key secret, e.g. the
    #: owner's role; without it only the IAM user itself (and the automation) can read the secret.
    secret_reader_tag_key: str = Field(default=DEFAULT_READER_TAG_KEY, min_length=1, max_length=128)
    #: An extra reader of handover secrets per IAM path prefix when no tag names one (longest prefix).
    path_secret_readers: dict[str, str] = Field(default_factory=dict)

    @field_validator("path_secret_readers")
    @classmethod
    def _path_readers(cls, value: dict[str, str]) -> dict[str, str]:
        for prefix, reader in value.items():
            if not prefix.startswith("/"):
                raise ValueError(f"path prefix {prefix!r} must start with '/'")
            if not READER_ARN.fullmatch(reader):
                raise ValueError(f"reader of {prefix!r} is not an IAM role or user ARN")
        return value

    @field_validator("path_owners")
    @classmethod
    def _path_owners(cls, value: dict[str, str]) -> dict[str, str]:
        for prefix, owner in value.items():
            if not prefix.startswith("/"):
                raise ValueError(f"path prefix {prefix!r} must start with '/'")
            if not is_email(owner):
                raise ValueError(f"owner of {prefix!r} is not an email address")
        return value

    def owner_rules(self) -> OwnerRules:
        return OwnerRules(
            tag_keys=self.owner_tag_keys,
            path_owners=dict(self.path_owners),
            security_email=self.security_email,
            reader_tag_key=self.secret_reader_tag_key,
            path_readers=dict(self.path_secret_readers),
        )


class ReportSettings(BaseModel):
    """The scheduled report: after each run, report.html, report.csv and report.json are written to
    `s3://<bucket>/<prefix>/<account>/<YYYY-MM-DD>/` and to `.../<account>/latest/` (the stack creates the
    bucket: versioned, encrypted, access-logged, lifecycle-expired). No bucket: no scheduled report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    prefix: str = Field(default="reports", pattern=r"^[A-Za-z0-9!_.*'()/-]{1,200}$")


class SecurityHubSettings(BaseModel):
    """Security Hub export (optional): each run imports its findings in the AWS Security Finding Format
    into the scanned account's Security Hub, updates them as they change, and archives (resolves) those
    whose credential is fixed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    #: The region whose Security Hub receives the findings (None: the region of the run).
    region: str | None = None


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: Policy = Field(default_factory=Policy)
    #: Sign-in and IAM-change risk rules (DESIGN §4): thresholds of the event monitor.
    risk: RiskPolicy = Field(default_factory=RiskPolicy)
    state_table: str = "credlife-state"
    #: New access keys are handed over in secrets named `<secret_prefix>/<user>`.
    secret_prefix: str = Field(default="credlife/access-keys", pattern=r"^[A-Za-z0-9/_+=.@-]{1,200}$")
    kms_key_id: str | None = None
    security_topic_arn: str | None = None
    sender_email: str | None = None
    region: str | None = None
    #: The automation's own role ARN: may read the secrets it writes (besides each secret's user).
    automation_principal_arn: str | None = None
    #: Every function role of the stack (env: comma-separated): the event monitor trusts their changes.
    own_principal_arns: tuple[str, ...] = ()
    #: The require-MFA managed policy the stack creates (env CREDLIFE_REQUIRE_MFA_POLICY_ARN): the only
    #: policy the automation ever attaches or detaches.
    require_mfa_policy_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:policy/.+$"
    )
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    organization: OrganizationSettings = Field(default_factory=OrganizationSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    security_hub: SecurityHubSettings = Field(default_factory=SecurityHubSettings)
    #: A run's clock is the real clock. An invoking event (schedule, rotate-now) whose `time` is further
    #: than this from it is refused: a stale sample or a replayed event must not date notices.
    event_clock_tolerance_minutes: int = Field(default=15, ge=1, le=1440)
    #: How old an account-queue message may be when the worker takes it (it waits for SQS retries and
    #: the worker's concurrency); an older one, or one from the future, is refused (failed record).
    queued_run_max_age_minutes: int = Field(default=360, ge=1, le=20160)

    @field_validator("own_principal_arns", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def effective_policy(self) -> Policy:
        """The lifecycle policy with the stack's require-MFA policy ARN filled in."""
        if self.require_mfa_policy_arn and self.policy.require_mfa_policy_arn is None:
            return self.policy.model_copy(update={"require_mfa_policy_arn": self.require_mfa_policy_arn})
        return self.policy

    @property
    def email_sender(self) -> str | None:
        return self.notifications.sender or self.sender_email


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the field and what is wrong."""


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    file = path or env.get(f"{ENV_PREFIX}CONFIG_FILE")
    if file:
        data = _deep_merge(data, _read_file(Path(file)))
    if inline := env.get(f"{ENV_PREFIX}CONFIG"):
        data = _deep_merge(data, _parse_json(inline, f"{ENV_PREFIX}CONFIG"))
    for name in _ENV_FIELDS:
        if (value := env.get(f"{ENV_PREFIX}{name.upper()}")) is not None:
            data[name] = value
    for name in _ENV_POLICY_FIELDS:
        if (value := env.get(f"{ENV_PREFIX}{name.upper()}")) is not None:
            data.setdefault("policy", {})[name] = value
    for name in _ENV_ORGANIZATION_FIELDS:
        if (value := env.get(f"{ENV_PREFIX}ORGANIZATION_{name.upper()}")) is not None:
            data.setdefault("organization", {})[name] = value
    for section, name in _ENV_SECTION_FIELDS:
        if (value := env.get(f"{ENV_PREFIX}{section.upper()}_{name.upper()}")) is not None:
            data.setdefault(section, {})[name] = value
    return parse_settings(data, source=str(file) if file else "environment")


def parse_settings(data: Mapping[str, Any], source: str = "settings") -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(top level)'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise ConfigError(f"invalid configuration in {source}: {problems}") from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    if path.suffix.lower() in {".yaml", ".yml"}:
        import yaml  # only the CLI reads YAML; the Lambda functions get JSON

        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    else:
        loaded = _parse_json(text, str(path))
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return loaded


def _parse_json(text: str, source: str) -> dict[str, Any]:
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{source} is not valid JSON: {error.msg} (line {error.lineno})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{source} must hold a JSON object")
    return loaded


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
