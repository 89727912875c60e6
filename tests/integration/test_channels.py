"""The SES v2 and SNS channels against moto: what the services recorded, and errors translated once."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from credlife.aws.calls import ApiCallCounter
from credlife.aws.channels import REQUIRED_ACTIONS, SesEmailChannel, SnsTopicChannel
from credlife.aws.errors import AwsError
from credlife.aws.notifier import Notifier
from credlife.ports import OutgoingMessage

pytestmark = pytest.mark.integration

ACCOUNT, REGION = "123456789012", "us-east-1"
SENDER = "credlife@example.com"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_an_email_goes_out_once_as_text_and_html(aws: None) -> None:
    # Given a verified sender
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
    counter = ApiCallCounter()
    channel = SesEmailChannel(boto3.client("sesv2", region_name=REGION), sender=SENDER, counter=counter)
    # When one digest is sent
    receipt = channel.send(
        OutgoingMessage("ana@example.com", "[credlife] 1 notice", "plain body", "<p>html</p>")
    )
    # Then SES recorded one message to the owner, with both bodies, through the declared action only
    (sent,) = ses_backends[ACCOUNT][REGION].sent_messages
    parsed = email.message_from_string(sent.raw_data)
    assert receipt == sent.id
    assert parsed["To"] == "ana@example.com"
    assert parsed["From"] == SENDER
    types = [p.get_content_type() for p in parsed.walk() if not p.is_multipart()]
    assert types == ["text/plain", "text/html"]
    assert {f"ses:{op.split(':')[1]}" for op in counter.snapshot()} <= set(REQUIRED_ACTIONS)


def test_an_unverified_sender_is_an_aws_error(aws: None) -> None:
    # Given no verified identity
    channel = SesEmailChannel(boto3.client("sesv2", region_name=REGION), sender=SENDER)
    # When sending, Then the ClientError arrives translated, naming the operation
    with pytest.raises(AwsError, match="ses:SendEmail failed: MessageRejected"):
        channel.send(OutgoingMessage("ana@example.com", "s", "t"))


def test_the_topic_gets_the_json_with_a_short_subject(aws: None) -> None:
    # Given the security topic
    sns = boto3.client("sns", region_name=REGION)
    arn = sns.create_topic(Name="security")["TopicArn"]
    notifier = Notifier(
        owner=[SnsTopicChannel(sns, topic_arn=arn)], security=[SnsTopicChannel(sns, topic_arn=arn)]
    )
    # When the summary is published with an overlong subject
    notifier.to_security(OutgoingMessage("security", "s" * 150, "text", json_body=json.dumps({"a": 1})))
    # Then the topic holds the JSON body and a subject cut to SNS's 100 characters
    ((_, body, subject, _, _),) = sns_backends[ACCOUNT][REGION].topics[arn].sent_notifications
    assert json.loads(body) == {"a": 1}
    assert subject == "s" * 100
