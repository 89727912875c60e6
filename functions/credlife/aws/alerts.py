"""Where risk alerts go: the security topic (SNS) and the user's "was this you?" check; and the owner's
notice when an `EnableMFADevice` event lifted the MFA enforcement.

Each is a port of `credlife.risk_monitor` with an AWS and a logging implementation. The SNS message is the
alert as JSON (who, what, where, when, why, next steps); the subject is short (≤ 100 ASCII characters) and
message attributes carry severity and reasons so subscriptions can filter. Alerts never hold a secret: the
events they come from carry none, and only chosen request parameters are copied.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from credlife.aws.calls import ApiCallCounter
from credlife.aws.channels import SES_ACTIONS
from credlife.aws.errors import AwsError, translate
from credlife.domain.messages import mfa_lift_notice
from credlife.domain.models import User
from credlife.domain.owners import Owner, OwnerRules, resolve_owner
from credlife.domain.risk import Alert
from credlife.ports import ChannelPort, OutgoingMessage

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_sns.client import SNSClient

_log = logging.getLogger("credlife.alerts")

#: What `SnsAlertPublisher` calls (on the security topic only).
REQUIRED_ACTIONS: Final = ("sns:Publish",)


class SnsAlertPublisher:
    """`AlertPublisherPort` publishing to the security SNS topic."""

    def __init__(
        self, topic_arn: str, client: SNSClient | None = None, *, counter: ApiCallCounter | None = None
    ) -> None:
        self.topic_arn = topic_arn
        self._client: SNSClient = client if client is not None else boto3.client("sns")
        if counter is not None:
            counter.attach(self._client)

    def publish(self, alert: Alert) -> None:
        try:
            self._client.publish(
                TopicArn=self.topic_arn,
                Subject=alert.subject,
                Message=json.dumps(alert.message, sort_keys=True, default=str),
                MessageAttributes={
                    "severity": {"DataType": "String", "StringValue": alert.severity.value},
                    "reasons": {"DataType": "String.Array", "StringValue": json.dumps(list(alert.reasons))},
                },
            )
        except ClientError as error:
            raise translate(error, "sns:Publish") from error
        except BotoCoreError as error:
            raise AwsError("sns:Publish", type(error).__name__) from error


class LoggingAlertPublisher:
    """`AlertPublisherPort` that logs the alert (no topic configured, local runs)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("credlife.alerts")
        self.sent: list[Alert] = []

    def publish(self, alert: Alert) -> None:
        self.sent.append(alert)
        self._log.warning(
            "%s", alert.subject, extra={"severity": alert.severity.value, "reasons": list(alert.reasons)}
        )


class LoggingOwnerCheck:
    """`OwnerCheckPort` that logs the "was this you?" question. Owner email (SES) arrives with issue 3; a
    class with the same `ask_owner` method replaces this one in `credlife.aws.risk_factory`."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("credlife.alerts")
        self.asked: list[tuple[str, str, Alert]] = []

    def ask_owner(self, account: str, user: str, alert: Alert) -> None:
        self.asked.append((account, user, alert))
        self._log.info(
            "was this you? sign-in check for user %s",
            user,
            extra={"account_id": account, "user": user, "reasons": list(alert.reasons)},
        )


class _OwnerEmail:
    """An email to an IAM user's owner, resolved from one `GetUser` call (tags, path default, e-mail user
    name) exactly as for the lifecycle digests."""

    REQUIRED_ACTIONS: Final = ("iam:GetUser", *SES_ACTIONS)

    def __init__(
        self,
        channel: ChannelPort,
        rules: OwnerRules,
        iam_client: IAMClient | None = None,
        *,
        counter: ApiCallCounter | None = None,
    ) -> None:
        self._channel = channel
        self._rules = rules
        self._iam: IAMClient = iam_client if iam_client is not None else boto3.client("iam")
        if counter is not None:
            counter.attach(self._iam)


class EmailOwnerCheck(_OwnerEmail):
    """`OwnerCheckPort` that emails the user's owner "was this you?". The owner is resolved exactly as for
    the lifecycle digests (tags, path default, e-mail user name), from one `GetUser` call — alerts are rare,
    so a per-alert call costs nothing at scale. The security team already has the alert: when the owner
    resolves to the security address, nothing more is sent."""

    def ask_owner(self, account: str, user: str, alert: Alert) -> None:
        owner = owner_of(self._iam, user, self._rules)
        if owner.address == self._rules.security_email:
            return
        where = alert.message.get("where", {})
        when = alert.message.get("when", "")
        text = "\n".join(
            [
                "Hello,",
                "",
                f"The IAM user {user} in AWS account {account} (you are its owner, {owner.source}) signed in",
                "to the AWS console in a way the security team wants confirmed:",
                "",
                f"  What:       {', '.join(alert.reasons)}",
                f"  When:       {when}",
                f"  From:       {where.get('source_ip', 'unknown')} ({where.get('region', 'unknown')})",
                f"  User agent: {where.get('user_agent', 'unknown')}",
                "",
                "If this was you, nothing needs doing. If it was not, reply to the security team at once",
                f"({self._rules.security_email}) and change the user's password.",
                "",
                "--",
                "credential-lifecycle. This email never contains a secret.",
            ]
        )
        self._channel.send(
            OutgoingMessage(
                recipient=owner.address,
                subject=f"[credlife] Was this you? Console sign-in as {user} in account {account}"[:100],
                text=text,
            )
        )


class OwnerMfaLiftNotice(_OwnerEmail):
    """`MfaLiftNoticePort`: one short email to the user's owner when `EnableMFADevice` lifted the require-MFA
    restriction (issue 4's event path). The owner is resolved as for the lifecycle digests, the security
    address included when nothing else matches (nobody else is told). The channel is SES when a sender is
    configured, else a log line (`LoggingChannel`)."""

    def mfa_lifted(self, account: str, user: str, at: datetime, dry_run: bool) -> None:
        owner = owner_of(self._iam, user, self._rules)
        subject, text = mfa_lift_notice(
            user=user,
            account_id=account,
            at=at,
            owner=owner,
            security_email=self._rules.security_email,
            dry_run=dry_run,
        )
        receipt = self._channel.send(OutgoingMessage(recipient=owner.address, subject=subject, text=text))
        _log.info(
            "MFA-lift notice sent",
            extra={
                "account_id": account,
                "user": user,
                "recipient": owner.address,
                "owner_source": owner.source,
                "channel": self._channel.name,
                "receipt": receipt,
            },
        )


def owner_of(iam: IAMClient, user: str, rules: OwnerRules) -> Owner:
    """The user's owner, resolved exactly as for the lifecycle digests (tags, path default, e-mail user name,
    the security address), from one `iam:GetUser` call."""
    try:
        found = iam.get_user(UserName=user)["User"]
    except ClientError as error:
        raise translate(error, "iam:GetUser") from None
    except BotoCoreError as error:
        raise AwsError("iam:GetUser", type(error).__name__) from None
    return resolve_owner(
        User(
            name=user,
            arn=found["Arn"],
            path=found.get("Path", "/"),
            tags={t["Key"]: t["Value"] for t in found.get("Tags", [])},
        ),
        rules,
    )
