"""Composition root of the event monitor: the DynamoDB sign-in state, the security topic (or a log when no
topic is configured), the owner check, and the MFA lift with its owner notice, wired into a `RiskMonitor`
from validated settings.

Kept apart from `credlife.aws.factory` (the lifecycle's root) so the event Lambda builds only what it
uses: no IAM or Secrets Manager client, a fast cold start."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from botocore.config import Config

from credlife.aws import alerts, iam_facts, signin_state
from credlife.aws.alerts import (
    EmailOwnerCheck,
    LoggingAlertPublisher,
    LoggingOwnerCheck,
    OwnerMfaLiftNotice,
    SnsAlertPublisher,
)
from credlife.aws.calls import ApiCallCounter
from credlife.aws.channels import LoggingChannel, SesEmailChannel
from credlife.aws.credential_executor import MFA_LIFT_ACTIONS, CredentialActions, MfaEnabledHook
from credlife.aws.iam_facts import IamFacts
from credlife.aws.signin_state import DynamoSigninState
from credlife.aws.state_store import DynamoStateStore
from credlife.config import Settings
from credlife.domain.risk import RiskPolicy
from credlife.ports import ChannelPort
from credlife.risk_monitor import AlertPublisherPort, MfaLiftNoticePort, OwnerCheckPort, RiskMonitor

RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 5})
#: Every action the event Lambda's role needs (the CDK construct grants exactly these): sign-in state, the
#: security topic, the "was this you?" email (when a sender is configured), lifting MFA enforcement on
#: `EnableMFADevice` (DetachUserPolicy only for the require-MFA policy) and telling the owner it was lifted.
REQUIRED_ACTIONS = tuple(
    dict.fromkeys(
        (
            *signin_state.REQUIRED_ACTIONS,
            *alerts.REQUIRED_ACTIONS,
            *EmailOwnerCheck.REQUIRED_ACTIONS,
            *MFA_LIFT_ACTIONS,
            *OwnerMfaLiftNotice.REQUIRED_ACTIONS,
            *iam_facts.REQUIRED_ACTIONS,
        )
    )
)


def build_mfa_hook(
    settings: Settings, session: boto3.Session, counter: ApiCallCounter
) -> MfaEnabledHook | None:
    """`EnableMFADevice` → detach the require-MFA policy at once. Only when the stack passed that policy's
    ARN: the event function is then granted `credential_executor.MFA_LIFT_ACTIONS` on that policy."""
    policy = settings.effective_policy
    if policy.require_mfa_policy_arn is None:
        return None
    store = DynamoStateStore(
        settings.state_table, session.client("dynamodb", config=RETRIES), counter=counter
    )
    actions = CredentialActions(
        session.client("iam", config=RETRIES),
        state=store,
        require_mfa_policy_arn=policy.require_mfa_policy_arn,
        counter=counter,
    )
    return MfaEnabledHook(actions, store, dry_run=policy.dry_run)


def build_email_channel(
    settings: Settings, session: boto3.Session, counter: ApiCallCounter
) -> SesEmailChannel | None:
    """SES v2 from the configured sender; None when no sender is configured."""
    sender = settings.email_sender
    if not sender:
        return None
    return SesEmailChannel(
        session.client("sesv2", config=RETRIES),
        sender=sender,
        configuration_set=settings.notifications.ses_configuration_set,
        counter=counter,
    )


def build_owner_check(settings: Settings, session: boto3.Session, counter: ApiCallCounter) -> OwnerCheckPort:
    """ "Was this you?" by email to the user's owner when an SES sender is configured; else a log line."""
    channel = build_email_channel(settings, session, counter)
    if channel is None:
        return LoggingOwnerCheck()
    return EmailOwnerCheck(
        channel, settings.notifications.owner_rules(), session.client("iam", config=RETRIES), counter=counter
    )


def build_mfa_notice(
    settings: Settings, session: boto3.Session, counter: ApiCallCounter
) -> MfaLiftNoticePort:
    """The owner's notice that `EnableMFADevice` lifted the MFA enforcement: by email when an SES sender is
    configured, else a log line naming the recipient (as the lifecycle's `LoggingChannel`)."""
    channel: ChannelPort = build_email_channel(settings, session, counter) or LoggingChannel()
    return OwnerMfaLiftNotice(
        channel, settings.notifications.owner_rules(), session.client("iam", config=RETRIES), counter=counter
    )


@dataclass(frozen=True)
class EventRuntime:
    settings: Settings
    monitor: RiskMonitor
    counter: ApiCallCounter


def build_event_runtime(settings: Settings, session: boto3.Session | None = None) -> EventRuntime:
    session = session or boto3.Session(region_name=settings.region)
    counter = ApiCallCounter()
    state = DynamoSigninState(
        settings.state_table, session.client("dynamodb", config=RETRIES), counter=counter
    )
    publisher: AlertPublisherPort
    if settings.security_topic_arn:
        publisher = SnsAlertPublisher(
            settings.security_topic_arn, session.client("sns", config=RETRIES), counter=counter
        )
    else:
        publisher = LoggingAlertPublisher()
    policy = trusted_policy(settings)
    mfa_hook = build_mfa_hook(settings, session, counter)
    facts = IamFacts(
        session.client("iam", config=RETRIES),
        session.client("sts", config=RETRIES),
        admin_policy_names=policy.admin_policy_names,
        counter=counter,
    )
    monitor = RiskMonitor(
        state,
        policy,
        publisher=publisher,
        owner_check=build_owner_check(settings, session, counter),
        mfa_hook=mfa_hook,
        mfa_notice=build_mfa_notice(settings, session, counter) if mfa_hook is not None else None,
        facts=facts,
    )
    return EventRuntime(settings, monitor, counter)


def trusted_policy(settings: Settings) -> RiskPolicy:
    """The risk policy with the project's own principals trusted: every function role of the stack (the
    automation principal and `own_principal_arns`, which the stack sets) and, in organization mode, the
    member role by name in every account. They create keys and passwords for other users by design."""
    policy = settings.risk
    own = [settings.automation_principal_arn, *getattr(settings, "own_principal_arns", ())]
    arns = tuple(dict.fromkeys([*policy.trusted_actor_arns, *(arn for arn in own if arn)]))
    names = policy.trusted_role_names
    if settings.organization.enabled and settings.organization.member_role_name not in names:
        names = (*names, settings.organization.member_role_name)
    return policy.model_copy(update={"trusted_actor_arns": arns, "trusted_role_names": names})
