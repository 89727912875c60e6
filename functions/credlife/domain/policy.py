"""The lifecycle policy: every threshold of DESIGN §3, in days, with its defaults.

One pydantic model, shared by the Lambda functions (from the environment), the CLI (`--config FILE`) and
tests. Unknown fields are rejected so a typo in a config file is an error, not a silent default."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from credlife.domain.password_policy import PasswordPolicyBaseline

Days = Annotated[int, Field(ge=0, le=3650)]


class Exemption(BaseModel):
    """One user left alone by the automation, for a reason someone approved, until a date (inclusive, UTC;
    none: permanent, and reported as such). The owner is told `exemption_notice_days` before it ends; the
    day after, the usual lifecycle resumes by itself (starting with a dated notice, never an action)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The IAM user name.
    user: str = Field(min_length=1, max_length=64, pattern=r"^[\w+=,.@-]+$")
    #: Why the user is left alone (shown in reports and audits).
    reason: str = Field(min_length=1, max_length=256)
    #: Who approved the exemption (a name or an address).
    approved_by: str = Field(min_length=1, max_length=256)
    #: The last exempt day (UTC); none: permanent, reported as such.
    until: date | None = None


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Plan, report and send "would do" notices, change nothing. On by default for a first deployment.
    dry_run: bool = True

    # -- access keys: rotation (CIS 2.12, IAM.3)
    #: An active access key this old (days since creation) is rotated.
    rotate_after_days: Days = 90
    #: The owner is warned this many days before a rotation (one notice per stage).
    rotation_warn_days: tuple[Days, ...] = (14, 7, 1)
    #: The old key is deactivated at the latest this many days after its replacement exists.
    deactivate_after_rotation_days: Days = 14
    #: An old key deactivated after rotation is deleted this many days later, if unused since.
    delete_rotated_after_days: Days = 14

    # -- access keys: disuse (CIS 2.11, IAM.22)
    #: An active access key unused this long is deactivated (after a notice), never rotated.
    unused_after_days: Days = 45
    #: A key never used is judged by its creation date; this is its grace (defaults to `unused_after_days`).
    never_used_grace_days: Days | None = None
    #: The owner is warned this many days before an unused key is deactivated.
    unused_warn_days: tuple[Days, ...] = (7,)
    #: An inactive key (deactivated as unused, or found inactive) is deleted after this many days inactive.
    delete_inactive_after_days: Days = 30
    #: The owner is warned this many days before an inactive key is deleted.
    delete_warn_days: tuple[Days, ...] = (7,)

    # -- console users without MFA (CIS 2.10, IAM.5)
    #: Days from detection (persisted) until the enforcement below.
    mfa_grace_days: Days = 7
    #: Reminders this many days before MFA is enforced on a console user without MFA.
    mfa_warn_days: tuple[Days, ...] = (7, 3, 1)
    #: "policy": attach the require-MFA managed policy; "delete_login_profile": remove the console
    #: password; "alert": never act, only warn and report.
    mfa_enforcement: Literal["policy", "delete_login_profile", "alert"] = "policy"
    #: The require-MFA managed policy (the stack passes CREDLIFE_REQUIRE_MFA_POLICY_ARN); without it,
    #: "policy" enforcement only reports.
    require_mfa_policy_arn: str | None = None

    # -- console passwords (CIS 2.11, IAM.8)
    #: A console password unused this long (never used: created this long ago) is removed.
    password_unused_days: Days = 45
    #: The owner is warned this many days before an unused console password is removed.
    password_warn_days: tuple[Days, ...] = (7,)

    # -- SSH public keys (CodeCommit), service-specific credentials, signing certificates: IAM records no
    #    last-used date for them, so age rules only. Each type costs one list call per user: off by default.
    #: Manage SSH public keys (CodeCommit): one ListSSHPublicKeys call per user.
    ssh_keys_enabled: bool = False
    #: Manage service-specific credentials (HTTPS Git): one list call per user.
    service_credentials_enabled: bool = False
    #: Manage X.509 signing certificates: one list call per user.
    signing_certificates_enabled: bool = False
    #: Set Inactive at this age (warned `other_warn_days` before) ...
    other_credentials_max_age_days: Days = 90
    #: The owner is warned this many days before such a credential is set Inactive.
    other_warn_days: tuple[Days, ...] = (14, 7, 1)
    #: ... and delete (SSH keys, service-specific credentials) this long after they became inactive.
    other_delete_inactive_after_days: Days = 30

    # -- account level
    #: Alerts this many days before a server certificate expires.
    server_certificate_warn_days: tuple[Days, ...] = (30, 7, 1)
    #: Root user activity within this many days is alerted (root is never acted on).
    root_recent_use_days: Days = 30
    password_policy: PasswordPolicyBaseline = Field(default_factory=PasswordPolicyBaseline)

    # -- best-practice advice (IAM's own guidance): `advise` rows in plans, reports and owner digests;
    #    they never trigger an action. Off by default (one row per user and rule, every run).
    #: Add best-practice advice rows (IAM's own guidance) to plans, reports and digests; never an action.
    advice_enabled: bool = False
    #: A workload's active access key at least this old is advised to move to an IAM role (or IAM Roles
    #: Anywhere outside AWS).
    advice_workload_key_days: Days = 30
    #: Advise users without a permissions boundary.
    require_permissions_boundary: bool = False

    # -- safety
    #: A disruptive action (deactivate, delete) happens only this long after the owner's first warning.
    notice_days: Days = 7
    #: Last-used dates have 15-minute granularity: "used after" must clear this margin.
    last_used_granularity_minutes: int = Field(default=15, ge=0, le=1440)
    #: The old key of a rotation is retired before its deadline only when it has not been used since the
    #: replacement's first use and has been idle at least this long (a weekly job is not a finished switch).
    safe_idle_days: Days = 7

    # -- scope and exemptions (audited, never silent)
    #: Users with this tag are exempt (audited); its value may carry `until=`, `approved=`, `reason=`.
    exempt_tag_key: str = Field(default="credlife:exempt", min_length=1, max_length=128)
    #: Only users under these IAM path prefixes are managed; the others are exempt rows ('/' = all).
    path_prefixes: tuple[str, ...] = ("/",)
    #: Emergency users never acted on (permanent exemptions, reported as such).
    break_glass_users: tuple[str, ...] = ()
    #: The project's own IAM users (if any); never acted on.
    own_principals: tuple[str, ...] = ()
    #: Named exemptions with a reason, an approver and (usually) an end date. The exempt tag may carry the
    #: same: `until=2026-06-30 approved=ciso@example.com reason=vendor appliance` (other values: permanent).
    exemptions: tuple[Exemption, ...] = ()
    #: The owner is told this many days before an exemption ends (one dated notice).
    exemption_notice_days: Days = 14

    @field_validator(
        "rotation_warn_days",
        "unused_warn_days",
        "delete_warn_days",
        "mfa_warn_days",
        "password_warn_days",
        "server_certificate_warn_days",
        "other_warn_days",
    )
    @classmethod
    def _sorted_desc(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(set(value), reverse=True))

    @field_validator("path_prefixes")
    @classmethod
    def _paths_are_iam_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            if not prefix.startswith("/"):
                raise ValueError(f"path prefix {prefix!r} must start with '/'")
        if not value:
            raise ValueError("at least one path prefix is needed ('/' means every user)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Policy:
        if (
            self.rotate_after_days
            and self.rotation_warn_days
            and max(self.rotation_warn_days) >= (self.rotate_after_days)
        ):
            raise ValueError("rotation_warn_days must all be smaller than rotate_after_days")
        return self

    @property
    def never_used_after_days(self) -> int:
        return self.unused_after_days if self.never_used_grace_days is None else self.never_used_grace_days
