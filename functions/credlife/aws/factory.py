"""Composition root: the one place boto3 clients are created and wired into the lifecycle service.

Clients use botocore's adaptive retry mode (client-side rate limiting plus backoff) because IAM throttles
hard and publishes no rate limits; every client is attached to one API call counter."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.utils import parse_timestamp

from credlife.asff import Thresholds
from credlife.aws.calls import ApiCallCounter
from credlife.aws.channels import LoggingChannel, SesEmailChannel, SnsTopicChannel
from credlife.aws.credential_executor import CredentialActions
from credlife.aws.credentials import CredentialInventory
from credlife.aws.executor import Executor
from credlife.aws.inventory import IamInventory
from credlife.aws.notifier import Notifier
from credlife.aws.organizations import MemberSessions
from credlife.aws.report_store import S3ReportStore
from credlife.aws.secrets import KeyVault
from credlife.aws.security_hub import SecurityHubFindings
from credlife.aws.state_store import DynamoStateStore
from credlife.config import Settings
from credlife.domain.owners import secret_reader
from credlife.lifecycle import LifecycleService
from credlife.notifications import NotificationService
from credlife.ports import ChannelPort
from credlife.publishing import Publisher
from credlife.templates import load_templates

RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 8})


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    service: LifecycleService
    counter: ApiCallCounter
    inventory: IamInventory
    state: DynamoStateStore


def build_runtime(
    settings: Settings, session: boto3.Session | None = None, *, home_session: boto3.Session | None = None
) -> Runtime:
    """Everything one account's lifecycle needs, from validated settings and a boto3 session (default
    resolution: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL).

    `home_session` (organization mode): `session` then acts in a member account (IAM, STS, the handover
    secrets) while the state table and notifications stay in the home account's session."""
    session = session or boto3.Session(region_name=settings.region)
    home = home_session or session
    for each in {id(session): session, id(home): home}.values():
        use_fast_timestamps(each)
    counter = ApiCallCounter()
    inventory = IamInventory(
        session.client("iam", config=RETRIES), session.client("sts", config=RETRIES), counter=counter
    )
    state = DynamoStateStore(settings.state_table, home.client("dynamodb", config=RETRIES), counter=counter)
    vault = KeyVault(
        session.client("secretsmanager", config=RETRIES),
        prefix=settings.secret_prefix,
        kms_key_id=settings.kms_key_id,
        automation_principal_arn=settings.automation_principal_arn,
        counter=counter,
        reader_of=functools.partial(secret_reader, rules=settings.notifications.owner_rules()),
    )
    policy = settings.effective_policy
    notifications = build_notifications(settings, home, state, vault, counter)
    credential_actions = CredentialActions(
        session.client("iam", config=RETRIES),
        state=state,
        require_mfa_policy_arn=policy.require_mfa_policy_arn,
        password_baseline=policy.password_policy,
        counter=counter,
        messages=notifications,
    )
    executor = Executor(
        session.client("iam", config=RETRIES),
        vault=vault,
        state=state,
        counter=counter,
        credentials=credential_actions,
        messages=notifications,
    )
    service = LifecycleService(
        inventory=inventory,
        state=state,
        executor=executor,
        notifications=notifications,
        policy=policy,
        account_id=inventory.account_id,
        api_calls=counter.snapshot,
        credentials=CredentialInventory(session.client("iam", config=RETRIES), counter=counter),
        publisher=build_publisher(settings, session, home, state, counter),
    )
    return Runtime(settings, service, counter, inventory, state)


def build_publisher(
    settings: Settings,
    session: boto3.Session,
    home: boto3.Session,
    state: DynamoStateStore,
    counter: ApiCallCounter,
) -> Publisher | None:
    """The report goes to the home account's bucket; findings to the scanned account's Security Hub (the
    account a finding is about must import it). None when neither is configured."""
    if not settings.report.bucket and not settings.security_hub.enabled:
        return None
    reports = (
        S3ReportStore(
            home.client("s3", config=RETRIES),
            bucket=settings.report.bucket,
            prefix=settings.report.prefix,
            counter=counter,
        )
        if settings.report.bucket
        else None
    )
    region = settings.security_hub.region or session.region_name or "us-east-1"
    findings = (
        SecurityHubFindings(
            session.client("securityhub", region_name=region, config=RETRIES), counter=counter
        )
        if settings.security_hub.enabled
        else None
    )
    policy = settings.effective_policy
    return Publisher(
        audit=state,
        reports=reports,
        findings=findings,
        region=region,
        partition=settings.organization.partition,
        thresholds=Thresholds(
            rotate_after_days=policy.rotate_after_days,
            unused_after_days=policy.unused_after_days,
            password_unused_days=policy.password_unused_days,
        ),
    )


def build_member_runtime(
    settings: Settings, account_id: str, *, members: MemberSessions, home_session: boto3.Session
) -> Runtime:
    """Organization mode: one member account's runtime on a session assumed in its member role. Handover
    secrets there use `organization.member_kms_key_id` (default: that account's AWS managed key), and the
    member role is the automation principal that may read them. MFA is enforced with the require-MFA
    policy the member-role stack creates in that account (never a home-account ARN), unless the policy's
    `mfa_enforcement` is something else than "policy"."""
    org = settings.organization
    update: dict[str, Any] = {
        "kms_key_id": org.member_kms_key_id,
        "automation_principal_arn": org.member_role_arn(account_id),
    }
    if settings.policy.mfa_enforcement == "policy":
        arn = org.member_require_mfa_policy_arn(account_id)
        update["require_mfa_policy_arn"] = arn
        update["policy"] = settings.policy.model_copy(update={"require_mfa_policy_arn": arn})
    member_settings = settings.model_copy(update=update)
    return build_runtime(member_settings, members.session_for(account_id), home_session=home_session)


def use_fast_timestamps(session: boto3.Session) -> None:
    """botocore parses every response timestamp with dateutil (~100 µs each; one authorization-details page
    of 5,000 users holds 5,000). ISO-8601 text, what IAM, STS and Organizations return, is parsed with
    `datetime.fromisoformat` instead; anything else falls back to botocore's own parser."""
    factory = session._session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=_parse_timestamp)


def _parse_timestamp(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    result: datetime = parse_timestamp(value)
    return result


def build_notifications(
    settings: Settings,
    session: boto3.Session,
    state: DynamoStateStore,
    vault: KeyVault,
    counter: ApiCallCounter,
) -> NotificationService:
    """Owner email through SES v2 when a sender is configured, the security topic through SNS when its ARN
    is; a logging channel stands in for either otherwise."""
    sender = settings.email_sender
    owner: ChannelPort = (
        SesEmailChannel(
            session.client("sesv2", config=RETRIES),
            sender=sender,
            configuration_set=settings.notifications.ses_configuration_set,
            counter=counter,
        )
        if sender
        else LoggingChannel(reaches_people=False)
    )
    security: ChannelPort = (
        SnsTopicChannel(
            session.client("sns", config=RETRIES), topic_arn=settings.security_topic_arn, counter=counter
        )
        if settings.security_topic_arn
        else LoggingChannel()
    )
    return NotificationService(
        state=state,
        notifier=Notifier(owner=[owner], security=[security]),
        rules=settings.notifications.owner_rules(),
        templates=load_templates(),
        secret_name=vault.secret_name,
        notice_days=settings.effective_policy.notice_days,
    )
