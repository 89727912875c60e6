"""Delivery channels: one small class each (`ChannelPort`). SES v2 email for owners, the SNS security topic
for the security team, and a logging channel for hosts without either.

Each channel translates botocore's `ClientError` once into the project's `AwsError`; none logs a message
body (bodies never hold a secret, but they are the owner's business)."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import AwsError, translate
from credlife.ports import OutgoingMessage, Undeliverable

if TYPE_CHECKING:
    from mypy_boto3_sesv2.client import SESV2Client
    from mypy_boto3_sns.client import SNSClient

log = logging.getLogger("credlife.channels")

SES_ACTIONS: Final = ("ses:SendEmail",)
SNS_ACTIONS: Final = ("sns:Publish",)
#: What the channels of this module call (the lifecycle role needs these beside the other adapters').
REQUIRED_ACTIONS: Final = (*SES_ACTIONS, *SNS_ACTIONS)


class SesEmailChannel:
    """Email through SES v2: one multipart/alternative message (text and HTML) per digest."""

    name = "ses"

    def __init__(
        self,
        client: SESV2Client | None = None,
        *,
        sender: str,
        configuration_set: str | None = None,
        counter: ApiCallCounter | None = None,
    ) -> None:
        self._client: SESV2Client = client if client is not None else boto3.client("sesv2")
        if counter is not None:
            counter.attach(self._client)
        self.sender = sender
        self.configuration_set = configuration_set

    def send(self, message: OutgoingMessage) -> str:
        mime = EmailMessage()
        mime["Subject"] = message.subject
        mime["From"] = self.sender
        mime["To"] = message.recipient
        mime["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        mime.set_content(message.text)
        if message.html is not None:
            mime.add_alternative(message.html, subtype="html")
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [message.recipient]},
            "Content": {"Raw": {"Data": mime.as_bytes()}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        response = _call("ses", "SendEmail", lambda: self._client.send_email(**request))
        return str(response.get("MessageId", ""))


class SnsTopicChannel:
    """The security topic: the JSON message as is, with a short subject."""

    name = "sns"

    def __init__(
        self, client: SNSClient | None = None, *, topic_arn: str, counter: ApiCallCounter | None = None
    ) -> None:
        self._client: SNSClient = client if client is not None else boto3.client("sns")
        if counter is not None:
            counter.attach(self._client)
        self.topic_arn = topic_arn

    def send(self, message: OutgoingMessage) -> str:
        body = message.json_body if message.json_body is not None else message.text
        response = _call(
            "sns",
            "Publish",
            lambda: self._client.publish(
                TopicArn=self.topic_arn,
                Subject=message.subject[:100],
                Message=body,
                MessageAttributes={"source": {"DataType": "String", "StringValue": "credlife"}},
            ),
        )
        return str(response.get("MessageId", ""))


class LoggingChannel:
    """For hosts with no sender or topic configured: logs that a message would go out (subject and
    recipient only). For the security team's summary that is accepted; for owners (`reaches_people`
    False) it is refused after logging: a log line is not a notice anybody received, so the items stay
    pending and nothing they announce happens until a sender is configured."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None, *, reaches_people: bool = True) -> None:
        self._log = logger or logging.getLogger("credlife.notifier")
        self.reaches_people = reaches_people

    def send(self, message: OutgoingMessage) -> str:
        self._log.info(
            "message not sent (no channel configured)",
            extra={"recipient": message.recipient, "subject": message.subject},
        )
        if not self.reaches_people:
            raise Undeliverable("no e-mail sender configured (CREDLIFE_SENDER_EMAIL)")
        return "logged"


def _call(service: str, operation: str, call: Any) -> Any:
    try:
        return call()
    except ClientError as error:
        raise translate(error, f"{service}:{operation}") from None
    except BotoCoreError as error:
        raise AwsError(f"{service}:{operation}", type(error).__name__) from None
