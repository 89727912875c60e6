"""The app's deployment settings, read from CDK context key `credlife` over `infra.constants.DEFAULTS`.

Validated here, before any construct exists, so a typo in `cdk.json` fails synthesis with a clear message
instead of deploying a half-configured stack."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.constants import (
    CONTEXT_KEY,
    DEFAULT_ENABLED_REGIONS,
    DEFAULT_HOME_REGION,
    DEFAULTS,
    MEMBER_ROLE_NAME,
)

_SECRET_PREFIX = re.compile(r"^[A-Za-z0-9_+=.@-][A-Za-z0-9/_+=.@-]{0,198}(?<!/)$")
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_SCHEDULE = re.compile(r"^(rate|cron)\(.+\)$")
_BOUNDARY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/.+$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
#: Upper bound of `report_retention_days` (100 years): a typo like 4000000 fails synthesis.
_MAX_DAYS = 36500


class ConfigError(ValueError):
    """A `credlife` context value that cannot be deployed; the message names the key."""


#: Keys of `credlife.organization` handed to the runtime settings as they are (validated there too).
_ORGANIZATION_FILTERS = (
    "include_accounts",
    "exclude_accounts",
    "include_ous",
    "exclude_ous",
    "include_tags",
    "exclude_tags",
)
_ROLE_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")


@dataclass(frozen=True)
class OrganizationConfig:
    """Organization mode: the scheduler fans out over SQS to the account worker, which assumes
    `member_role_name` (deployed by the member-role stack) in each account. `home_account` is the account
    whose worker role the member role trusts (a stack parameter when not given)."""

    member_role_name: str
    home_account: str | None
    filters: Mapping[str, Any]


@dataclass(frozen=True)
class AppConfig:
    """One field per context key; defaults live in `infra.constants.DEFAULTS` only."""

    dry_run: bool
    schedule: str
    state_table_name: str
    #: New keys are handed over in secrets named `<secret_prefix>/<user>`; the role may touch only those.
    secret_prefix: str
    #: Lifecycle policy overrides, handed to the function as `CREDLIFE_CONFIG={"policy": {...}}`.
    policy: Mapping[str, Any]
    permissions_boundary_arn: str | None
    account: str | None
    region: str | None
    organization: OrganizationConfig | None = None
    sender_email: str | None = None
    notifications: Mapping[str, Any] | None = None
    risk: Mapping[str, Any] | None = None
    signin_regions: tuple[str, ...] = ()
    create_trail: bool = False
    #: Days a compliance report object (and an access-log object) lives in the report bucket.
    report_retention_days: int = 400
    #: Send findings to AWS Security Hub as well (grants securityhub:BatchImportFindings/GetFindings).
    security_hub: bool = False

    @property
    def home_region(self) -> str:
        """Where the main stack runs and the forwarders send sign-in events."""
        return self.region or DEFAULT_HOME_REGION

    def runtime_config_json(self) -> str:
        """The `CREDLIFE_CONFIG` document; stable key order keeps the template diff-free."""
        document: dict[str, Any] = {"policy": dict(self.policy)}
        for section, value in (("notifications", self.notifications), ("risk", self.risk)):
            if value:
                document[section] = dict(value)
        if self.organization is not None:
            document["organization"] = {
                "member_role_name": self.organization.member_role_name,
                **self.organization.filters,
            }
        return json.dumps(document, sort_keys=True, separators=(",", ":"))


def config_from_context(context: object) -> AppConfig:
    """Build the config from the raw context value (a mapping, or a JSON string from `-c credlife=...`)."""
    if context is None:
        context = {}
    if isinstance(context, str):
        try:
            context = json.loads(context)
        except json.JSONDecodeError as error:
            raise ConfigError(f"context {CONTEXT_KEY!r} is not valid JSON: {error.msg}") from None
    if not isinstance(context, Mapping):
        raise ConfigError(f"context {CONTEXT_KEY!r} must be a JSON object")
    unknown = sorted(set(context) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown {CONTEXT_KEY} keys: {', '.join(unknown)} (known: {', '.join(DEFAULTS)})")
    values = {**DEFAULTS, **context}

    dry_run = values["dry_run"]
    if not isinstance(dry_run, bool):
        raise ConfigError(f"{CONTEXT_KEY}.dry_run must be true or false, not {dry_run!r}")
    policy = values["policy"]
    if not isinstance(policy, Mapping):
        raise ConfigError(f"{CONTEXT_KEY}.policy must be a JSON object of lifecycle policy overrides")
    if "dry_run" in policy:
        raise ConfigError(f"set dry_run at the top of {CONTEXT_KEY}, not in {CONTEXT_KEY}.policy")
    sections = {}
    for section in ("notifications", "risk"):
        if not isinstance(values[section], Mapping):
            raise ConfigError(
                f"{CONTEXT_KEY}.{section} must be a JSON object (the runtime's {section} settings)"
            )
        sections[section] = dict(values[section])
    create_trail = values["create_trail"]
    if not isinstance(create_trail, bool):
        raise ConfigError(f"{CONTEXT_KEY}.create_trail must be true or false, not {create_trail!r}")
    security_hub = values["security_hub"]
    if not isinstance(security_hub, bool):
        raise ConfigError(f"{CONTEXT_KEY}.security_hub must be true or false, not {security_hub!r}")
    retention = values["report_retention_days"]
    if isinstance(retention, bool) or not isinstance(retention, int) or not 1 <= retention <= _MAX_DAYS:
        raise ConfigError(
            f"{CONTEXT_KEY}.report_retention_days must be a whole number of days from 1 to {_MAX_DAYS}, "
            f"not {retention!r}"
        )
    region = _optional(values, "region", _REGION, "a region name")
    return AppConfig(
        dry_run=dry_run,
        schedule=_checked(values, "schedule", _SCHEDULE, "rate(...) or cron(...)"),
        state_table_name=_checked(values, "state_table_name", _TABLE_NAME, "a DynamoDB table name"),
        secret_prefix=_checked(
            values, "secret_prefix", _SECRET_PREFIX, "a Secrets Manager name prefix without a trailing /"
        ),
        policy=dict(policy),
        permissions_boundary_arn=_optional(values, "permissions_boundary_arn", _BOUNDARY_ARN, "a policy ARN"),
        account=_optional(values, "account", _ACCOUNT, "a 12-digit account id"),
        region=region,
        organization=_organization(values["organization"]),
        sender_email=_optional(values, "sender_email", _EMAIL, "an email address (a verified SES identity)"),
        notifications=sections["notifications"],
        risk=sections["risk"],
        signin_regions=_regions(
            values["signin_regions"],
            region or DEFAULT_HOME_REGION,
            exclude=values["signin_regions_exclude"],
            extra=values["signin_regions_extra"],
        ),
        create_trail=create_trail,
        report_retention_days=retention,
        security_hub=security_hub,
    )


def _regions(value: Any, home: str, *, exclude: Any = (), extra: Any = ()) -> tuple[str, ...]:
    """The forwarder regions: "default-enabled" (every region enabled by default but the home region) or
    an explicit list, minus `signin_regions_exclude`, plus `signin_regions_extra` (opt-in regions)."""
    key = f"{CONTEXT_KEY}.signin_regions"
    for name, listed in (("signin_regions_exclude", exclude), ("signin_regions_extra", extra)):
        if not isinstance(listed, list | tuple) or not all(
            isinstance(r, str) and _REGION.match(r) for r in listed
        ):
            raise ConfigError(f"{CONTEXT_KEY}.{name} must be a list of region names, not {listed!r}")
    if value == "default-enabled":
        value = [r for r in DEFAULT_ENABLED_REGIONS if r != home]
    elif not isinstance(value, list) or not all(isinstance(r, str) and _REGION.match(r) for r in value):
        raise ConfigError(f'{key} must be "default-enabled" or a list of region names, not {value!r}')
    elif home in value:
        raise ConfigError(f"{key} must not name the home region {home} (it has its own sign-in rule)")
    if len(set(value)) != len(value):
        raise ConfigError(f"{key} names a region twice")
    if home in extra:
        raise ConfigError(f"{CONTEXT_KEY}.signin_regions_extra must not name the home region {home}")
    regions = [r for r in value if r not in exclude]
    return tuple(dict.fromkeys([*regions, *(r for r in extra if r not in exclude)]))


def _organization(value: Any) -> OrganizationConfig | None:
    key = f"{CONTEXT_KEY}.organization"
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a JSON object")
    known = {"enabled", "member_role_name", "home_account", *_ORGANIZATION_FILTERS}
    if unknown := sorted(set(value) - known):
        raise ConfigError(f"unknown {key} keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    enabled = value.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{key}.enabled must be true or false, not {enabled!r}")
    if not enabled:
        return None
    values = {"member_role_name": MEMBER_ROLE_NAME, "home_account": None, **value}
    return OrganizationConfig(
        member_role_name=_checked(values, "member_role_name", _ROLE_NAME, "an IAM role name"),
        home_account=_optional(values, "home_account", _ACCOUNT, "a 12-digit account id"),
        filters={k: value[k] for k in _ORGANIZATION_FILTERS if k in value},
    )


def _checked(values: Mapping[str, Any], key: str, pattern: re.Pattern[str], what: str) -> str:
    value = values[key]
    if not isinstance(value, str) or not pattern.match(value):
        raise ConfigError(f"{CONTEXT_KEY}.{key} must be {what}, not {value!r}")
    return value


def _optional(values: Mapping[str, Any], key: str, pattern: re.Pattern[str], what: str) -> str | None:
    return None if values[key] in (None, "") else _checked(values, key, pattern, what)
