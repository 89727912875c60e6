"""Each role's grants, derived from what the code its function runs declares: every adapter lists the AWS
actions it calls (`REQUIRED_ACTIONS`), each function's composition root wires a known set of adapters,
and this module maps each action to the resources it may touch (`scope_of`). A new action in an adapter
reaches the roles of the functions that use it without an edit here; an action of a service this module
has no scope for fails synthesis, naming it.

The one place infrastructure reads runtime code (beside the settings model `app.py` validates with):
the declared action tuples, plain data."""

from __future__ import annotations

from collections.abc import Iterable

from credlife.aws import (
    channels,
    credential_executor,
    executor,
    inventory,
    organizations,
    report_store,
    risk_factory,
    secrets,
    state_store,
)
from credlife.aws import security_hub as security_hub_adapter
from infra.constants import KMS_INDIRECT_ACTIONS, ActionGroup, Scope

#: IAM/STS actions without resource-level permissions (or account-wide by nature).
_ACCOUNT_WIDE = frozenset(
    {
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:GetAccountAuthorizationDetails",
        "iam:GetAccountPasswordPolicy",
        "iam:UpdateAccountPasswordPolicy",
        "iam:ListServerCertificates",
        "sts:GetCallerIdentity",
    }
)
#: Actions with a scope of their own.
_ACTION_SCOPES: dict[str, Scope] = {
    # attach/detach only the require-MFA policy (the constructs add the iam:PolicyARN condition)
    "iam:AttachUserPolicy": "users-require-mfa",
    "iam:DetachUserPolicy": "users-require-mfa",
    "sts:AssumeRole": "member-roles",
    # privilege escalation checks read the policies of the group a user joins
    "iam:ListAttachedGroupPolicies": "groups",
    "iam:ListGroupPolicies": "groups",
    "iam:GetGroupPolicy": "groups",
    "securityhub:BatchImportFindings": "security-hub-product",
    "securityhub:GetFindings": "security-hub",
}
#: Every other action of a service acts on the service's one resource of ours.
_SERVICE_SCOPES: dict[str, Scope] = {
    "iam": "users",
    "dynamodb": "state-table",
    "secretsmanager": "secrets",
    "ses": "sender-identity",
    "sns": "security-topic",
    "s3": "report-bucket",
    "sqs": "account-queue",
    # account and OU ARNs embed the organization id, unknown at synthesis
    "organizations": "*",
}


class UnscopedAction(ValueError):
    """An adapter declares an action this module cannot place on a resource."""


def scope_of(action: str) -> Scope:
    if action in _ACCOUNT_WIDE:
        return "*"
    if action in _ACTION_SCOPES:
        return _ACTION_SCOPES[action]
    service = action.split(":", 1)[0]
    if service in _SERVICE_SCOPES:
        return _SERVICE_SCOPES[service]
    raise UnscopedAction(f"no resource scope for {action}: add it to infra/permissions.py")


def groups_for(actions: Iterable[str], *, project_key: bool = False) -> tuple[ActionGroup, ...]:
    """One group per (service, scope), in first-seen order; actions sorted inside a group. With
    `project_key`, the KMS actions services take on the code's behalf with the project key."""
    grouped: dict[tuple[str, Scope], set[str]] = {}
    for action in dict.fromkeys(actions):
        service, name = action.split(":", 1)
        grouped.setdefault((service, scope_of(action)), set()).add(name)
    groups = [
        ActionGroup(service, tuple(sorted(names)), scope) for (service, scope), names in grouped.items()
    ]
    if project_key:
        groups.append(ActionGroup("kms", KMS_INDIRECT_ACTIONS, "project-key"))
    return tuple(groups)


def qualified(groups: Iterable[ActionGroup]) -> frozenset[str]:
    return frozenset(action for group in groups for action in group.qualified())


# -- what each function's code calls (its composition root's adapters) ---------------------------------


def lifecycle_code_actions(*, security_hub: bool = False) -> tuple[str, ...]:
    """The scheduled lifecycle (`factory.build_runtime`): inventory, executor with MFA enforcement, state,
    handover secrets, notices, the report (and Security Hub)."""
    return (
        *inventory.REQUIRED_ACTIONS,
        *executor.REQUIRED_ACTIONS,
        *credential_executor.REQUIRE_MFA_ACTIONS,
        *state_store.REQUIRED_ACTIONS,
        *secrets.REQUIRED_ACTIONS,
        *channels.REQUIRED_ACTIONS,
        *report_store.REQUIRED_ACTIONS,
        *(security_hub_adapter.REQUIRED_ACTIONS if security_hub else ()),
    )


def rotate_now_code_actions() -> tuple[str, ...]:
    """Rotate-now runs the lifecycle for one user with only its access-key rows kept: the inventory's
    reads and the key steps, never the other credentials' writes (login profiles, the password policy,
    SSH keys, MFA enforcement) and no report."""
    other_credentials = set(credential_executor.REQUIRED_ACTIONS)
    return (
        *inventory.REQUIRED_ACTIONS,
        *(a for a in executor.REQUIRED_ACTIONS if a not in other_credentials),
        *state_store.REQUIRED_ACTIONS,
        *secrets.REQUIRED_ACTIONS,
        *channels.REQUIRED_ACTIONS,
    )


def scheduler_fan_out_code_actions() -> tuple[str, ...]:
    """Organization mode's scheduler only lists the accounts and queues them."""
    return tuple(organizations.REQUIRED_ACTIONS)


def worker_code_actions() -> tuple[str, ...]:
    """The account worker, in the home account: assume member roles, state, notices, each account's
    report (IAM and Security Hub calls go through the member session)."""
    return (
        *organizations.MemberSessions.REQUIRED_ACTIONS,
        *state_store.REQUIRED_ACTIONS,
        *channels.REQUIRED_ACTIONS,
        *report_store.REQUIRED_ACTIONS,
    )


def member_code_actions(*, security_hub: bool = False) -> tuple[str, ...]:
    """What the lifecycle does inside a member account (`factory.build_member_runtime`)."""
    return (
        *inventory.REQUIRED_ACTIONS,
        *executor.REQUIRED_ACTIONS,
        *credential_executor.REQUIRE_MFA_ACTIONS,
        *secrets.REQUIRED_ACTIONS,
        *(security_hub_adapter.REQUIRED_ACTIONS if security_hub else ()),
    )


def event_monitor_code_actions() -> tuple[str, ...]:
    return tuple(risk_factory.REQUIRED_ACTIONS)


# -- groups per role --------------------------------------------------------------------------------------


def scanner_groups(*, organization: bool = False, security_hub: bool = False) -> tuple[ActionGroup, ...]:
    if organization:
        return groups_for(scheduler_fan_out_code_actions())
    return groups_for(lifecycle_code_actions(security_hub=security_hub), project_key=True)


def rotate_now_groups() -> tuple[ActionGroup, ...]:
    return groups_for(rotate_now_code_actions(), project_key=True)


def worker_groups() -> tuple[ActionGroup, ...]:
    return groups_for(worker_code_actions(), project_key=True)


def member_groups(*, security_hub: bool = False) -> tuple[ActionGroup, ...]:
    return groups_for(member_code_actions(security_hub=security_hub))


def event_monitor_groups() -> tuple[ActionGroup, ...]:
    return groups_for(event_monitor_code_actions(), project_key=True)


#: What the Lambda runtime itself needs beside the code's calls: its own log group, X-Ray, and failed
#: asynchronous events to its dead-letter queue.
ASYNC_RUNTIME_ACTIONS: frozenset[str] = frozenset(
    {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "sqs:SendMessage",
    }
)
#: The worker runtime's own needs: logs, X-Ray, and consuming its queue (granted by the event source).
WORKER_RUNTIME_ACTIONS: frozenset[str] = frozenset(
    {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
)


def scanner_actions(*, organization: bool = False, security_hub: bool = False) -> frozenset[str]:
    return qualified(scanner_groups(organization=organization, security_hub=security_hub))


def scanner_role_actions(*, organization: bool = False, security_hub: bool = False) -> frozenset[str]:
    return scanner_actions(organization=organization, security_hub=security_hub) | ASYNC_RUNTIME_ACTIONS


def rotate_now_role_actions() -> frozenset[str]:
    return qualified(rotate_now_groups()) | ASYNC_RUNTIME_ACTIONS


def event_monitor_role_actions() -> frozenset[str]:
    return qualified(event_monitor_groups()) | ASYNC_RUNTIME_ACTIONS


def worker_role_actions() -> frozenset[str]:
    return qualified(worker_groups()) | WORKER_RUNTIME_ACTIONS


def member_actions(*, security_hub: bool = False) -> frozenset[str]:
    return qualified(member_groups(security_hub=security_hub))


def exempt_deny_actions(groups: Iterable[ActionGroup]) -> tuple[str, ...]:
    """The changes to a user a role may make that must never touch an exempt user (explicit Deny on the
    exempt tag, defence in depth beside the planner's own check). Detaching the require-MFA policy stays
    allowed: an exemption lifts the enforcement."""
    return tuple(
        sorted(
            action
            for group in groups
            if group.service == "iam" and group.scope in ("users", "users-require-mfa")
            for action in group.qualified()
            if action.split(":", 1)[1].startswith(("Create", "Update", "Delete", "Attach"))
        )
    )
