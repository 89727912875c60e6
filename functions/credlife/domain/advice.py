"""Best-practice advice from IAM's own guidance: `advise` rows (one per user and rule), never an action.

Pure, like the planner: a function of `(user, policy, now)`. A user is a *human* when it has a console
password and a *workload* when it has access keys only. The rules:
- a human holding long-term access keys: use IAM Identity Center and `aws configure sso` instead;
- a workload's active access key at least `advice_workload_key_days` old: use an IAM role (or IAM Roles
  Anywhere outside AWS) instead of long-term keys;
- policies attached to the user directly (managed or inline) rather than through groups (Security Hub IAM.2);
- no permissions boundary, where `require_permissions_boundary` is set.

Advice rows are `credential=user` rows (they need no key ids, so they cost no `ListAccessKeys` call)."""

from __future__ import annotations

from datetime import datetime

from credlife.domain.actions import Action, ActionKind, Reason, Severity
from credlife.domain.models import CredentialType, User
from credlife.domain.policy import Policy


def user_kind(user: User) -> str:
    """`human` (a console password), `workload` (access keys only) or `none` (neither)."""
    if user.login_profile is not None:
        return "human"
    return "workload" if user.access_keys else "none"


def advise(user: User, policy: Policy, now: datetime) -> list[Action]:
    """The advice rows of one (non-exempt) user; none unless `policy.advice_enabled`."""
    if not policy.advice_enabled:
        return []
    kind = user_kind(user)
    active = [k for k in user.access_keys if k.active]
    found: list[tuple[Reason, str]] = []
    if kind == "human" and active:
        found.append(
            (
                Reason.HUMAN_ACCESS_KEYS,
                f"a console user holding {len(active)} long-term access key(s): sign in through IAM "
                "Identity Center and use `aws configure sso` for temporary CLI credentials, then delete "
                "the keys",
            )
        )
    if kind == "workload":
        aged = [k for k in active if (now - k.created).days >= policy.advice_workload_key_days]
        if aged:
            oldest = max((now - k.created).days for k in aged)
            found.append(
                (
                    Reason.WORKLOAD_ACCESS_KEYS,
                    f"a workload using {len(aged)} long-term access key(s) (oldest {oldest} days): give it "
                    "an IAM role (or IAM Roles Anywhere outside AWS) for temporary credentials instead",
                )
            )
    direct = len(user.attached_policies) + len(user.inline_policies)
    if direct:
        found.append(
            (
                Reason.DIRECT_POLICIES,
                f"{direct} polic{'y' if direct == 1 else 'ies'} attached to the user directly"
                f"{' (member of ' + ', '.join(user.groups) + ')' if user.groups else ''}: grant permissions "
                "through groups instead",
            )
        )
    if policy.require_permissions_boundary and user.permissions_boundary is None:
        found.append(
            (
                Reason.NO_PERMISSIONS_BOUNDARY,
                "no permissions boundary: the configuration requires one; set it with "
                "`aws iam put-user-permissions-boundary`",
            )
        )
    return [
        Action(
            user=user.name,
            credential=CredentialType.USER,
            action=ActionKind.ADVISE,
            reason=reason,
            due=now,
            severity=Severity.LOW,
            dry_run=policy.dry_run,
            detail=f"{kind} user: {detail}",
        )
        for reason, detail in found
    ]
