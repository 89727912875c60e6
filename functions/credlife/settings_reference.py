"""docs/settings.md, generated from the settings models: every field with its type, default, meaning and
the standard it serves. `python -m credlife.settings_reference > docs/settings.md` rewrites it; a test
fails when the page and the models differ, so the reference cannot drift from the code.

A field's meaning is its `#:` comment in the model's source (or its pydantic description); fields of
models outside this module's reach without one get theirs from `_MEANINGS` below, and a test requires a
meaning for every field."""

from __future__ import annotations

import inspect
import json
import re
import sys
import types
from collections.abc import Iterator
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from credlife.config import Settings
from credlife.domain.actions import CIS_BENCHMARK, CONTROLS, SECURITY_HUB_STANDARD, Reason

#: Meanings of fields whose model carries no `#:` comment for them.
_MEANINGS: dict[str, str] = {
    "policy.password_policy.minimum_length": "Baseline: minimum password length.",
    "policy.password_policy.require_symbols": "Baseline: passwords need a symbol.",
    "policy.password_policy.require_numbers": "Baseline: passwords need a number.",
    "policy.password_policy.require_uppercase": "Baseline: passwords need an upper-case letter.",
    "policy.password_policy.require_lowercase": "Baseline: passwords need a lower-case letter.",
    "policy.password_policy.allow_users_to_change": "Baseline: users may change their own password.",
    "policy.password_policy.max_age_days": "Baseline: passwords expire after this many days.",
    "policy.password_policy.reuse_prevention": "Baseline: this many previous passwords cannot be reused.",
    "risk.max_known_ips": "Source IP addresses remembered per user (the `new_source_ip` baseline).",
    "risk.max_known_agents": "User agents remembered per user (the `new_user_agent` baseline).",
    "state_table": "The DynamoDB table holding lifecycle state, notices, the outbox and the audit trail.",
    "kms_key_id": "KMS key for the handover secrets (None: the account's AWS managed key).",
    "security_topic_arn": "SNS topic the security team's summaries and escalations go to.",
    "sender_email": "Verified SES identity owner emails come from (see notifications.sender).",
    "region": "The region AWS calls go to (the CLI: --region, then this, then AWS_REGION, ...).",
    "notifications.ses_configuration_set": "SES configuration set for owner emails (delivery events).",
    "organization.enabled": "Organization mode: scan every active member account through its role.",
    "organization.member_role_name": "The role the automation assumes in each member account.",
    "organization.partition": "The AWS partition of the member role ARNs (aws, aws-us-gov, aws-cn).",
    "organization.include_accounts": "Only these account ids (empty: every account).",
    "organization.exclude_accounts": "Never these account ids.",
    "organization.include_ous": "Only accounts in these OUs, directly or nested (empty: every OU).",
    "organization.exclude_ous": "Never accounts in these OUs.",
    "organization.include_tags": "Only accounts with all these tag values.",
    "organization.exclude_tags": "Never accounts with any of these tag values.",
    "report.bucket": "S3 bucket for the scheduled report (None: no scheduled report).",
    "report.prefix": "Key prefix of the reports in the bucket.",
    "security_hub.enabled": "Import findings into Security Hub (ASFF) after each run.",
}

_ROTATION = CONTROLS[Reason.KEY_ROTATION_DUE]
_UNUSED = CONTROLS[Reason.KEY_UNUSED]
#: Dotted field path (or a prefix ending in ".") → the control the setting serves.
_STANDARDS: dict[str, str] = {
    "policy.rotate_after_days": _ROTATION,
    "policy.rotation_warn_days": _ROTATION,
    "policy.deactivate_after_rotation_days": _ROTATION,
    "policy.delete_rotated_after_days": _ROTATION,
    "policy.unused_after_days": _UNUSED,
    "policy.never_used_grace_days": _UNUSED,
    "policy.unused_warn_days": _UNUSED,
    "policy.delete_inactive_after_days": _UNUSED,
    "policy.delete_warn_days": _UNUSED,
    "policy.mfa_": CONTROLS[Reason.CONSOLE_NO_MFA],
    "policy.require_mfa_policy_arn": CONTROLS[Reason.CONSOLE_NO_MFA],
    "policy.password_unused_days": CONTROLS[Reason.PASSWORD_UNUSED],
    "policy.password_warn_days": CONTROLS[Reason.PASSWORD_UNUSED],
    "policy.other_": CONTROLS[Reason.CREDENTIAL_AGED],
    "policy.ssh_keys_enabled": CONTROLS[Reason.CREDENTIAL_AGED],
    "policy.service_credentials_enabled": CONTROLS[Reason.CREDENTIAL_AGED],
    "policy.signing_certificates_enabled": CONTROLS[Reason.CREDENTIAL_AGED],
    "policy.server_certificate_warn_days": CONTROLS[Reason.SERVER_CERT_EXPIRING],
    "policy.root_recent_use_days": CONTROLS[Reason.ROOT_RECENT_USE],
    "policy.password_policy.": CONTROLS[Reason.PASSWORD_POLICY_WEAK],
    "policy.advice_": "IAM security best practices",
    "policy.require_permissions_boundary": CONTROLS[Reason.NO_PERMISSIONS_BOUNDARY],
    "policy.notice_days": "the project's promise: dated notice before anything disruptive",
    "policy.dry_run": "the project's promise: visible in dry-run first",
    "policy.exempt": "the project's promise: exemptions audited, dated, never silent",
    "policy.break_glass_users": "the project's promise: exemptions audited, dated, never silent",
    "risk.": "CIS monitoring of console sign-ins (CloudTrail / EventBridge)",
}


def fields(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[tuple[str, Any, str]]:
    """(dotted name, pydantic FieldInfo, meaning) for every leaf field, depth first, in model order."""
    comments = _comments(model)
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        nested = _model_of(info.annotation)
        if nested is not None:
            yield from fields(nested, f"{path}.")
            continue
        meaning = info.description or comments.get(name) or _MEANINGS.get(path, "")
        yield path, info, meaning
        element = _element_model(info.annotation)
        if element is not None:  # a list of entries: each entry's fields, as `name[].field`
            yield from fields(element, f"{path}[].")


def render() -> str:
    lines = [
        "# Settings reference",
        "",
        "<!-- generated by `python -m credlife.settings_reference > docs/settings.md`; do not edit -->",
        "",
        "One schema for the Lambda functions (environment), the CLI (`--config FILE`, JSON or YAML) and the",
        "tests: `credlife.config.Settings`. Unknown fields are errors. Days are whole days; durations are",
        "measured in UTC. Nested fields are written with dots (`policy.notice_days` is",
        "`policy: {notice_days: 7}` in a file). The standards are the project's controls: recommendation",
        f"numbers of the {CIS_BENCHMARK} and control ids of {SECURITY_HUB_STANDARD}.",
        "",
        "| field | type | default | meaning | standard |",
        "|---|---|---|---|---|",
    ]
    for path, info, meaning in fields():
        lines.append(
            f"| `{path}` | {_cell(_type(info.annotation))} | {_cell(_default(info))} | {_cell(meaning)} "
            f"| {_cell(standard(path))} |"
        )
    lines.append("")
    return "\n".join(lines)


def standard(path: str) -> str:
    if path in _STANDARDS:
        return _STANDARDS[path]
    matches = [key for key in _STANDARDS if path.startswith(key)]
    return _STANDARDS[max(matches, key=len)] if matches else "-"


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """`#:` comment lines right above each field in the model's source."""
    try:
        source = inspect.getsource(model)
    except (OSError, TypeError):  # pragma: no cover - source not shipped
        return {}
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        field = re.match(r"^\s{4}(\w+)\s*:", line)
        if field and pending:
            found[field.group(1)] = " ".join(pending)
        pending = []
    return found


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _element_model(annotation: Any) -> type[BaseModel] | None:
    if get_origin(annotation) is tuple:
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        if len(args) == 1:
            return _model_of(args[0])
    return None


def _type(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_type(arg) for arg in get_args(annotation))
    if origin is not None:
        args = get_args(annotation)
        name = getattr(origin, "__name__", str(origin))
        if name == "Annotated":
            return _type(args[0])
        if name == "Literal":
            return " / ".join(json.dumps(a) for a in args)
        inner = ", ".join(_type(a) for a in args if a is not Ellipsis)
        return f"{name}[{inner}]" if name != "tuple" else f"list of {inner}"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: Any) -> str:
    if info.default_factory is not None:
        value = info.default_factory()
    elif info.default is PydanticUndefined:
        return "(required)"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return f"`{json.dumps(value, default=str)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render())
