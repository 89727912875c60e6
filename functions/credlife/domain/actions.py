"""What the planner decides: one action per credential, each with a reason and the control it serves."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from credlife.domain.models import CredentialType


class ActionKind(StrEnum):
    WARN = "warn"  # tell the owner about an upcoming action (carries its deadline)
    ROTATE = "rotate"  # create a new key beside the old one, hand it over through Secrets Manager
    DEACTIVATE = "deactivate"  # set an access key Inactive
    DELETE = "delete"  # delete an (inactive) access key
    ALERT = "alert"  # needs a human; the automation acts on nothing
    BLOCKED = "blocked"  # due now but waiting on something (e.g. the two-key quota)
    EXEMPT = "exempt"  # audited non-action: the user is out of scope
    ENFORCE = "enforce"  # attach the require-MFA policy / set the password policy baseline
    LIFT = "lift"  # detach the require-MFA policy once MFA is enabled
    ADVISE = "advise"  # best-practice advice (IAM's own guidance): informs, never acts


#: Actions that change IAM. Everything else only informs.
CHANGING_KINDS = frozenset(
    {ActionKind.ROTATE, ActionKind.DEACTIVATE, ActionKind.DELETE, ActionKind.ENFORCE, ActionKind.LIFT}
)
#: Actions that can break a workload and so need prior notice.
DISRUPTIVE_KINDS = frozenset({ActionKind.DEACTIVATE, ActionKind.DELETE, ActionKind.ENFORCE})


class Reason(StrEnum):
    KEY_ROTATION_DUE = "key_rotation_due"
    ROTATION_REQUESTED = "rotation_requested"
    KEY_UNUSED = "key_unused"
    KEY_REPLACED_SAFE = "key_replaced_safe"
    KEY_REPLACED_OVERDUE = "key_replaced_overdue"
    INACTIVE_KEY_CLEANUP = "inactive_key_cleanup"
    KEY_QUOTA_CONFLICT = "key_quota_conflict"
    KEY_QUOTA_WAIT = "key_quota_wait"
    EXEMPT_TAG = "exempt_tag"
    EXEMPT_PATH = "exempt_path"
    EXEMPT_BREAK_GLASS = "exempt_break_glass"
    EXEMPT_OWN_PRINCIPAL = "exempt_own_principal"
    EXEMPT_LISTED = "exempt_listed"  # an entry of the settings' `policy.exemptions`
    ROOT_ACCESS_KEYS = "root_access_keys"
    ROOT_NO_MFA = "root_no_mfa"
    ROOT_RECENT_USE = "root_recent_use"
    PASSWORD_POLICY_WEAK = "password_policy_weak"  # noqa: S105 - a reason code, not a secret
    CONSOLE_NO_MFA = "console_no_mfa"
    MFA_ENABLED = "mfa_enabled"
    # MFA enforcement lifted because nothing justifies it any more (DESIGN "Decisions")
    CONSOLE_PASSWORD_REMOVED = "console_password_removed"  # noqa: S105 - a reason code, not a secret
    MFA_ENFORCEMENT_EXEMPT = "mfa_enforcement_exempt"
    PASSWORD_UNUSED = "password_unused"  # noqa: S105 - a reason code, not a secret
    PASSWORD_RESET_PENDING = "password_reset_pending"  # noqa: S105 - a reason code, not a secret
    SERVER_CERT_EXPIRING = "server_certificate_expiring"
    SERVER_CERT_EXPIRED = "server_certificate_expired"
    CREDENTIAL_AGED = "credential_aged"
    INACTIVE_CREDENTIAL_CLEANUP = "inactive_credential_cleanup"
    # best-practice advice (ActionKind.ADVISE): never an action
    HUMAN_ACCESS_KEYS = "human_access_keys"
    WORKLOAD_ACCESS_KEYS = "workload_access_keys"
    DIRECT_POLICIES = "direct_policies"
    NO_PERMISSIONS_BOUNDARY = "no_permissions_boundary"


#: The benchmark whose recommendation numbers `CONTROLS` gives (2.11 unused credentials and 2.12 access
#: key rotation are numbered so in v7.0.0; v3.0.0 and v4.0.1 numbered them 1.12 and 1.14).
CIS_BENCHMARK = "CIS AWS Foundations Benchmark v7.0.0"
#: The Security Hub standard whose control ids (`IAM.3`, ...) `CONTROLS` gives.
SECURITY_HUB_STANDARD = "AWS Foundational Security Best Practices v1.0.0"

#: Reason code → the CIS AWS Foundations / AWS Security Hub controls it satisfies (DESIGN §3).
CONTROLS: dict[Reason, str] = {
    Reason.KEY_ROTATION_DUE: "CIS 2.12 / IAM.3",
    Reason.ROTATION_REQUESTED: "CIS 2.12 / IAM.3",
    Reason.KEY_UNUSED: "CIS 2.11 / IAM.22",
    Reason.KEY_REPLACED_SAFE: "CIS 2.12 / IAM.3",
    Reason.KEY_REPLACED_OVERDUE: "CIS 2.12 / IAM.3",
    Reason.INACTIVE_KEY_CLEANUP: "CIS 2.11 / IAM.22",
    Reason.KEY_QUOTA_CONFLICT: "CIS 2.12 / IAM.3",
    Reason.KEY_QUOTA_WAIT: "CIS 2.12 / IAM.3",
    Reason.EXEMPT_TAG: "-",
    Reason.EXEMPT_PATH: "-",
    Reason.EXEMPT_BREAK_GLASS: "-",
    Reason.EXEMPT_OWN_PRINCIPAL: "-",
    Reason.EXEMPT_LISTED: "-",
    Reason.ROOT_ACCESS_KEYS: "CIS 2.3 / IAM.4",
    Reason.ROOT_NO_MFA: "CIS 2.5 / IAM.9",
    Reason.ROOT_RECENT_USE: "CIS 2.2 / IAM.6",
    Reason.PASSWORD_POLICY_WEAK: "CIS 2.7, 2.8 / IAM.7",
    Reason.CONSOLE_NO_MFA: "CIS 2.10 / IAM.5",
    Reason.MFA_ENABLED: "CIS 2.10 / IAM.5",
    Reason.CONSOLE_PASSWORD_REMOVED: "CIS 2.10 / IAM.5",
    Reason.MFA_ENFORCEMENT_EXEMPT: "-",
    Reason.PASSWORD_UNUSED: "CIS 2.11 / IAM.8",
    Reason.PASSWORD_RESET_PENDING: "CIS 2.11 / IAM.8",
    Reason.SERVER_CERT_EXPIRING: "CIS 2.19",
    Reason.SERVER_CERT_EXPIRED: "CIS 2.19",
    Reason.CREDENTIAL_AGED: "CIS 2.12 (by analogy)",
    Reason.INACTIVE_CREDENTIAL_CLEANUP: "CIS 2.11 (by analogy)",
    Reason.HUMAN_ACCESS_KEYS: "IAM best practice: federation for humans",
    Reason.WORKLOAD_ACCESS_KEYS: "IAM best practice: temporary credentials for workloads",
    Reason.DIRECT_POLICIES: "IAM.2",
    Reason.NO_PERMISSIONS_BOUNDARY: "IAM best practice: permissions boundaries",
}


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Action:
    """One decision about one credential.

    `due` is when this row's own action happens (for `warn`: when the notice goes out); `deadline` is, for
    a `warn`, when the announced action (`warns_of`) will happen, and for a `rotate`, when the old key will
    be deactivated at the latest. `key_created` identifies the key before its id is known."""

    user: str
    credential: CredentialType
    action: ActionKind
    reason: Reason
    due: datetime
    key_id: str | None = None
    key_created: datetime | None = None
    deadline: datetime | None = None
    warns_of: ActionKind | None = None
    stage: str | None = None
    severity: Severity = Severity.INFO
    dry_run: bool = False
    detail: str = ""
    #: For a `warn` (and a `rotate`, whose message is the old key's first notice): no notice of this
    #: episode has reached the owner yet, so the deadline it announces moves with its delivery.
    opens_notice: bool = False
    #: A quiet row (see `quiet`) already audited in this episode: not audited or queued again this run.
    repeat: bool = field(default=False, compare=False)

    @property
    def control(self) -> str:
        return CONTROLS[self.reason]

    @property
    def changes_iam(self) -> bool:
        return self.action in CHANGING_KINDS

    def with_key_id(self, key_id: str | None) -> Action:
        return replace(self, key_id=key_id)

    def as_row(self) -> dict[str, str | bool | None]:
        """Flat, JSON-ready view (the `plan --json` contract)."""
        return {
            "user": self.user,
            "credential": self.credential.value,
            "key_id": self.key_id,
            "key_created": _iso(self.key_created),
            "action": self.action.value,
            "warns_of": self.warns_of.value if self.warns_of else None,
            "stage": self.stage,
            "reason": self.reason.value,
            "control": self.control,
            "severity": self.severity.value,
            "due": _iso(self.due),
            "deadline": _iso(self.deadline),
            "dry_run": self.dry_run,
            "detail": self.detail,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


#: Rows that change nothing in IAM whatever the mode.
REPORT_ONLY_KINDS = frozenset({ActionKind.ALERT, ActionKind.BLOCKED, ActionKind.EXEMPT, ActionKind.ADVISE})


def quiet(action: Action) -> bool:
    """A row that changes nothing (it only reports, or it is a dry-run "would do"): audited once per
    episode, not every run."""
    return action.dry_run or action.action in REPORT_ONLY_KINDS


def episode_id(action: Action) -> str:
    """The same row planned run after run: user, credential (by creation time, or its own id for other
    credential types), action, reason, mode and what a notice announces; not the detail text (it counts
    days), a key id (known for some runs only) nor another row's deadline (it moves while nothing happens)."""
    key_rows = action.credential in (CredentialType.ACCESS_KEY, CredentialType.USER)
    parts = [
        action.user,
        action.credential.value,
        None if key_rows else action.key_id,
        _iso(action.key_created),
        action.action.value,
        action.reason.value,
        action.warns_of.value if action.warns_of else None,
        action.stage,
        # what a notice announces, or when an exemption ends; a dry-run rotation's deadline moves daily
        _iso(action.deadline) if action.action in (ActionKind.WARN, ActionKind.EXEMPT) else None,
        action.dry_run,
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]
