"""Security Hub findings in the AWS Security Finding Format (ASFF), from the compliance report's rows.

Pure: no boto3, no clock (the time is passed in). `build_findings` turns a report into one finding per
credential and control; `reconcile` compares them with the findings this project imported before and
returns only what Security Hub must be told: new findings, changed ones, ones not refreshed for a while
(Security Hub deletes findings not updated for 90 days), and resolved ones (the credential was fixed:
`Compliance.Status` PASSED and `RecordState` ARCHIVED; its user exempted: NOT_AVAILABLE and ARCHIVED).

What is a finding: user credentials are judged on their state at the run (IAM.3 key past the rotation
age, IAM.22 key unused, IAM.8 password unused, IAM.5 console user without MFA; exempt users are not judged),
so a finding stays open on the days no notice goes out and closes at the first run after the fix.
Account-level rows of the plan (root, password policy, server certificates) and advice rows (IAM.2 direct
policies, and IAM's guidance as WARNING) are taken as the plan gives them: it emits them on every run while
they hold. A finding's `Id` is stable (account, user, credential, credential id or creation time,
control), so a run updates what the previous run imported instead of adding to it.

Severity and types go in `FindingProviderFields` as AWS asks of finding providers (the top-level fields
belong to the customer's workflow once a finding exists)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from credlife.domain.actions import CIS_BENCHMARK, SECURITY_HUB_STANDARD
from credlife.domain.models import AccessKey, User
from credlife.report import Report

SCHEMA_VERSION: Final = "2018-10-08"
GENERATOR_PREFIX: Final = "credlife/"
#: Findings not updated for this long are re-sent unchanged (Security Hub deletes them after 90 days).
REFRESH_AFTER: Final = timedelta(days=30)
TYPES: Final = ("Software and Configuration Checks/AWS Security Best Practices",)
_SEVERITY: Final = {
    "info": "INFORMATIONAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "critical": "CRITICAL",
}
_RANK: Final = {label: i for i, label in enumerate(_SEVERITY.values())}
#: Compliance statuses from best to worst (two rows of one finding: the worse wins).
_COMPLIANCE_RANK: Final = {"PASSED": 0, "WARNING": 1, "FAILED": 2}
_ACCOUNT_CREDENTIALS: Final = frozenset({"root", "password_policy", "server_certificate"})
#: Titles per Security Hub / CIS control (what an analyst reads first).
#: What to do about a finding, per Security Hub control (ASFF `Remediation.Recommendation`).
_REMEDIATION: Final = {
    "IAM.2": "Attach the user's policies to a group or a role instead of the user.",
    "IAM.3": "Rotate the key: create a new key, switch the workload to it, deactivate and then delete the "
    "old one (credential-lifecycle does this with dated notices to the owner).",
    "IAM.4": "Delete the root user's access keys; use IAM roles instead.",
    "IAM.5": "Enable an MFA device for the console user, or remove its console password.",
    "IAM.6": "Stop using the root user for everyday work; lock its credentials away.",
    "IAM.7": "Set the account password policy to the baseline (length 14, symbols, numbers, upper and "
    "lower case, reuse prevention 24, maximum age 90).",
    "IAM.8": "Remove the unused console password (delete the login profile).",
    "IAM.9": "Enable MFA (a hardware device is best) for the root user.",
    "IAM.22": "Deactivate the unused credential, and delete it when nobody claims it.",
}
_REMEDIATION_URL: Final = "https://docs.aws.amazon.com/securityhub/latest/userguide/iam-controls.html"

_TITLES: Final = {
    "IAM.2": "IAM user has policies attached directly",
    "IAM.3": "IAM user access key is older than the rotation threshold",
    "IAM.4": "Root user has an access key",
    "IAM.5": "Console user has no MFA",
    "IAM.6": "Root user was used recently",
    "IAM.7": "Account password policy is weaker than the baseline",
    "IAM.8": "Console password is unused",
    "IAM.9": "Root user has no MFA",
    "IAM.22": "IAM credential is unused",
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The lifecycle policy's limits the controls are judged by (days)."""

    rotate_after_days: int = 90
    unused_after_days: int = 45
    password_unused_days: int = 45


#: What each advice row recommends, without its per-run numbers.
_ADVICE: Final = {
    "human_access_keys": "A console user holds long-term access keys: sign in through IAM Identity Center "
    "and use `aws configure sso` for temporary CLI credentials, then delete the keys.",
    "workload_access_keys": "A workload uses long-term access keys: give it an IAM role (or IAM Roles "
    "Anywhere outside AWS) for temporary credentials instead.",
    "direct_policies": "Policies are attached to the user directly: grant permissions through groups.",
    "no_permissions_boundary": "The user has no permissions boundary, which the configuration requires.",
}


def product_arn(partition: str, region: str, account_id: str) -> str:
    """The default product ARN: findings an account imports about itself."""
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"


def build_findings(
    report: Report,
    users: Iterable[User],
    *,
    region: str,
    partition: str = "aws",
    thresholds: Thresholds | None = None,
) -> dict[str, dict[str, Any]]:
    """The findings standing now, by `Id`.

    User credentials are judged on their state (so a finding stays open between the days a notice goes
    out, and closes the run after the fix): an active access key past the rotation age (IAM.3) or unused
    (IAM.22), a console password unused (IAM.8) or without MFA (IAM.5). Account-level rows of the plan
    (root, password policy, server certificates) and advice rows are taken as they are: the planner emits
    them on every run while they hold."""
    limits = thresholds or Thresholds()
    exempt = exempt_users(report)
    found: dict[str, dict[str, Any]] = {}
    for user in users:
        if user.name in exempt:
            continue
        for finding in _user_findings(report, user, region=region, partition=partition, limits=limits):
            found[finding["Id"]] = finding
    for row in report.rows:
        status = _compliance(row)
        if status is None:
            continue
        finding = _row_finding(report, row, status, region=region, partition=partition)
        old = found.get(finding["Id"])
        if old is None or _worse(finding, old):
            found[finding["Id"]] = finding
    return found


def exempt_users(report: Report) -> frozenset[str]:
    return frozenset(str(r["user"]) for r in report.rows if r["status"] == "exempt")


def reconcile(
    current: Mapping[str, dict[str, Any]],
    existing: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    exempt: frozenset[str] = frozenset(),
    refresh_after: timedelta = REFRESH_AFTER,
) -> list[dict[str, Any]]:
    """What to import: new, changed and stale findings, and the previously imported active findings that
    are gone now (resolved, or archived as no longer evaluated when their user is exempt). Each finding
    keeps the `CreatedAt` / `FirstObservedAt` of its first import."""
    at = _iso(now)
    before = {str(f["Id"]): f for f in existing if str(f.get("GeneratorId", "")).startswith(GENERATOR_PREFIX)}
    out: list[dict[str, Any]] = []
    for finding_id, finding in sorted(current.items()):
        old = before.get(finding_id)
        if old is None:
            out.append(finding)
            continue
        kept = {
            **finding,
            "CreatedAt": old.get("CreatedAt", finding["CreatedAt"]),
            "FirstObservedAt": old.get("FirstObservedAt", finding["FirstObservedAt"]),
        }
        if (
            old.get("RecordState") != "ACTIVE"
            or _signature(old) != _signature(kept)
            or _age(old, now) >= refresh_after
        ):
            out.append(kept)
    for finding_id, old in sorted(before.items()):
        if finding_id in current or old.get("RecordState") != "ACTIVE":
            continue
        user = str(old.get("ProductFields", {}).get("credlife/user", ""))
        excluded = user in exempt
        out.append(
            {
                **{k: v for k, v in old.items() if k in _IMPORTABLE},
                "UpdatedAt": at,
                "LastObservedAt": at,
                "RecordState": "ARCHIVED",
                "Compliance": {
                    **dict(old.get("Compliance") or {}),
                    "Status": "NOT_AVAILABLE" if excluded else "PASSED",
                },
                "Description": (
                    "No longer evaluated: the user is exempt from the credential lifecycle."
                    if excluded
                    else "Resolved: the credential no longer fails this control."
                ),
            }
        )
    return out


def batches(findings: Sequence[dict[str, Any]], size: int = 100) -> list[list[dict[str, Any]]]:
    """BatchImportFindings takes at most 100 findings per call."""
    return [list(findings[i : i + size]) for i in range(0, len(findings), size)]


# -- one finding --------------------------------------------------------------------------------------

#: Top-level ASFF fields a finding provider sets (what Security Hub returns holds more).
_IMPORTABLE: Final = frozenset(
    {
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "Types",
        "CreatedAt",
        "UpdatedAt",
        "FirstObservedAt",
        "LastObservedAt",
        "Severity",
        "FindingProviderFields",
        "Title",
        "Description",
        "Remediation",
        "ProductFields",
        "Resources",
        "Compliance",
        "RecordState",
    }
)


def _compliance(row: Mapping[str, Any]) -> str | None:
    if row["status"] == "finding" and row["credential"] in _ACCOUNT_CREDENTIALS:
        return "WARNING" if row["action"] == "warn" else "FAILED"
    if row["status"] == "advice":
        return "FAILED" if _control_ids(row)[1] else "WARNING"
    return None


def _user_findings(
    report: Report, user: User, *, region: str, partition: str, limits: Thresholds
) -> Iterator[dict[str, Any]]:
    now = report.generated_at
    for key in user.access_keys:
        if not key.active:
            continue
        created = f"created {key.created:%Y-%m-%d %H:%M:%S}Z"
        ref = key.key_id or created
        credential_id = _iso(key.created)
        if (now - key.created).days >= limits.rotate_after_days:
            yield _finding(
                report,
                user.name,
                "access_key",
                credential_id,
                "2.12",
                "IAM.3",
                description=f"{user.name}: active access key {ref} is older than "
                f"{limits.rotate_after_days} days: rotate it (credlife rotates and hands the new key over).",
                severity="MEDIUM",
                resource=_key_resource(user.name, key, partition, region),
                reason="key_rotation_due",
                region=region,
                partition=partition,
            )
        last = key.last_used or key.created
        if (now - last).days >= limits.unused_after_days:
            yield _finding(
                report,
                user.name,
                "access_key",
                credential_id,
                "2.11",
                "IAM.22",
                description=f"{user.name}: active access key {ref} unused for {limits.unused_after_days} "
                "days or more: deactivate and delete it.",
                severity="MEDIUM",
                resource=_key_resource(user.name, key, partition, region),
                reason="key_unused",
                region=region,
                partition=partition,
            )
    profile = user.login_profile
    if profile is None:
        return
    resource = _user_resource(user.name, report.account_id, partition, region)
    if not user.mfa_active:
        yield _finding(
            report,
            user.name,
            "password",
            "console",
            "2.10",
            "IAM.5",
            description=f"{user.name}: console password without an MFA device: enable MFA.",
            severity="MEDIUM",
            resource=resource,
            reason="console_no_mfa",
            region=region,
            partition=partition,
        )
    if (now - (profile.last_used or profile.created)).days >= limits.password_unused_days:
        yield _finding(
            report,
            user.name,
            "password",
            "console",
            "2.11",
            "IAM.8",
            description=f"{user.name}: console password unused for {limits.password_unused_days} days or "
            "more: remove it.",
            severity="MEDIUM",
            resource=resource,
            reason="password_unused",
            region=region,
            partition=partition,
        )


def _row_finding(
    report: Report, row: Mapping[str, Any], status: str, *, region: str, partition: str
) -> dict[str, Any]:
    cis, hub = _control_ids(row)
    user = str(row["user"])
    reason = str(row.get("reason") or "credential")
    severity = _SEVERITY.get(str(row.get("severity") or "info"), "INFORMATIONAL")
    if row["credential"] in _ACCOUNT_CREDENTIALS or user.startswith("<"):
        resource = {
            "Type": "AwsAccount",
            "Id": f"AWS::::Account:{report.account_id}",
            "Partition": partition,
            "Region": region,
        }
    else:
        resource = _user_resource(user, report.account_id, partition, region)
    detail = f" {row['detail']}" if row.get("detail") else ""
    if row["status"] == "advice":  # its detail counts days (it would change every run): the rule instead
        detail = f" {_ADVICE.get(reason, '')}".rstrip()
    return _finding(
        report,
        user,
        str(row["credential"]),
        str(row.get("key_id") or "-"),
        cis,
        hub,
        description=f"{user}: {reason}.{detail}",
        severity=severity,
        resource=resource,
        reason=reason,
        region=region,
        partition=partition,
        status=status,
        action=str(row["action"]),
    )


def _finding(
    report: Report,
    user: str,
    credential: str,
    credential_id: str,
    cis: str,
    hub: str,
    *,
    description: str,
    severity: str,
    resource: dict[str, Any],
    reason: str,
    region: str,
    partition: str,
    status: str = "FAILED",
    action: str = "-",
) -> dict[str, Any]:
    account = report.account_id
    at = _iso(report.generated_at)
    control = hub or (f"CIS.{cis}" if cis else reason)
    requirements = [f"{CIS_BENCHMARK} {c.strip()}" for c in cis.split(",") if c.strip()]
    if hub:
        requirements.append(f"{SECURITY_HUB_STANDARD} {hub}")
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": f"credlife/{account}/{user}/{credential}/{credential_id}/{control}",
        "ProductArn": product_arn(partition, region, account),
        "GeneratorId": f"{GENERATOR_PREFIX}{control}",
        "AwsAccountId": account,
        "Types": list(TYPES),
        "CreatedAt": at,
        "UpdatedAt": at,
        "FirstObservedAt": at,
        "LastObservedAt": at,
        "Severity": {"Label": severity},
        "FindingProviderFields": {"Severity": {"Label": severity}, "Types": list(TYPES)},
        "Title": _TITLES.get(hub, f"IAM credential finding: {reason}")[:256],
        "Description": description[:1024],
        "ProductFields": {
            "credlife/user": user,
            "credlife/credential": credential,
            "credlife/reason": reason,
            "credlife/action": action,
            "credlife/control": " / ".join(p for p in (f"CIS {cis}" if cis else "", hub) if p) or reason,
        },
        "Resources": [resource],
        "Compliance": {
            "Status": status,
            "RelatedRequirements": requirements[:32],
            **({"SecurityControlId": hub} if hub else {}),
        },
        "Remediation": {
            "Recommendation": {
                "Text": _REMEDIATION.get(hub, f"See the credential-lifecycle notice for {reason}.")[:512],
                "Url": f"{_REMEDIATION_URL}#{hub.lower().replace('.', '-')}" if hub else _REMEDIATION_URL,
            }
        },
        "RecordState": "ACTIVE",
    }


def _key_resource(user: str, key: AccessKey, partition: str, region: str) -> dict[str, Any]:
    if key.key_id is None:  # not listed this run (the credential report has no key ids)
        return {
            "Type": "AwsIamAccessKey",
            "Id": f"{user}/{_iso(key.created)}",
            "Partition": partition,
            "Region": region,
            "Details": {"AwsIamAccessKey": {"PrincipalName": user, "PrincipalType": "IAMUser"}},
        }
    return {
        "Type": "AwsIamAccessKey",
        "Id": key.key_id,
        "Partition": partition,
        "Region": region,
        "Details": {
            "AwsIamAccessKey": {
                "PrincipalName": user,
                "PrincipalType": "IAMUser",
                "CreatedAt": _iso(key.created),
                "Status": key.status.value,
            }
        },
    }


def _user_resource(user: str, account: str, partition: str, region: str) -> dict[str, Any]:
    return {
        "Type": "AwsIamUser",
        "Id": f"arn:{partition}:iam::{account}:user/{user}",
        "Partition": partition,
        "Region": region,
        "Details": {"AwsIamUser": {"UserName": user}},
    }


def _control_ids(row: Mapping[str, Any]) -> tuple[str, str]:
    """("2.12", "IAM.3") from "CIS 2.12 / IAM.3"; ("", "IAM.2") from "IAM.2"; ("", "") from prose."""
    control = str(row.get("control") or "")
    cis, hub = "", ""
    for part in control.split("/"):
        part = part.strip()
        if part.startswith("CIS "):
            cis = part[4:].replace("(by analogy)", "").strip()
        elif part.startswith("IAM.") and " " not in part:
            hub = part
    return cis, hub


def _worse(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    key_new = (_COMPLIANCE_RANK.get(new["Compliance"]["Status"], 0), _RANK[new["Severity"]["Label"]])
    key_old = (_COMPLIANCE_RANK.get(old["Compliance"]["Status"], 0), _RANK[old["Severity"]["Label"]])
    return key_new > key_old


def _signature(finding: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes a finding different for its reader (timestamps aside)."""
    return (
        finding.get("Compliance", {}).get("Status"),
        (finding.get("FindingProviderFields") or {}).get("Severity", {}).get("Label"),
        finding.get("Title"),
        finding.get("Description"),
    )


def _age(finding: Mapping[str, Any], now: datetime) -> timedelta:
    try:
        updated = datetime.fromisoformat(str(finding.get("UpdatedAt", "")).replace("Z", "+00:00"))
    except ValueError:
        return timedelta.max
    return now - (updated if updated.tzinfo else updated.replace(tzinfo=UTC))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
