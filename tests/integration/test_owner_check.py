"""The "was this you?" email to a signing-in user's owner (issue 5 through issue 3's SES channel): the
owner is resolved from the user's tags with one GetUser call, the mail is what SES recorded."""

from __future__ import annotations

import email
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.ses.models import ses_backends

from credlife.aws.alerts import EmailOwnerCheck
from credlife.aws.calls import ApiCallCounter
from credlife.aws.channels import SesEmailChannel
from credlife.aws.errors import NotFound
from credlife.domain.actions import Severity
from credlife.domain.owners import OwnerRules
from credlife.domain.risk import Alert

ACCOUNT, REGION = "123456789012", "us-east-1"
SENDER = "credlife@example.com"
RULES = OwnerRules(security_email="security@example.com")
ALERT = Alert(
    subject="[credlife medium] new_source_ip: dana in 123456789012",
    severity=Severity.MEDIUM,
    reasons=("new_source_ip",),
    message={
        "when": "2026-06-01T06:00:00+00:00",
        "where": {"source_ip": "198.51.100.7", "region": "eu-north-1", "user_agent": "Mozilla/5.0"},
    },
    owner="dana",
)


@pytest.fixture
def check() -> Iterator[tuple[EmailOwnerCheck, ApiCallCounter]]:
    with mock_aws():
        boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
        iam = boto3.client("iam", region_name=REGION)
        iam.create_user(UserName="dana", Tags=[{"Key": "owner", "Value": "dana.owner@example.com"}])
        iam.create_user(UserName="nobody")
        counter = ApiCallCounter()
        channel = SesEmailChannel(boto3.client("sesv2", region_name=REGION), sender=SENDER)
        yield EmailOwnerCheck(channel, RULES, iam, counter=counter), counter


def test_the_owner_gets_one_email_naming_what_when_and_where(
    check: tuple[EmailOwnerCheck, ApiCallCounter],
) -> None:
    owner_check, counter = check
    # When a risky sign-in of dana asks its owner
    owner_check.ask_owner(ACCOUNT, "dana", ALERT)
    # Then one email went to the owner from the tag, with the reason, time, IP, region and user agent
    (sent,) = ses_backends[ACCOUNT][REGION].sent_messages
    mail = email.message_from_string(sent.raw_data)
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert mail["To"] == "dana.owner@example.com"
    assert "Was this you?" in mail["Subject"]
    for fact in ("new_source_ip", "2026-06-01T06:00:00+00:00", "198.51.100.7", "eu-north-1", "Mozilla/5.0"):
        assert fact in body
    assert counter.snapshot() == {"iam:GetUser": 1}


def test_no_owner_but_the_security_team_sends_nothing_more(
    check: tuple[EmailOwnerCheck, ApiCallCounter],
) -> None:
    owner_check, _ = check
    owner_check.ask_owner(ACCOUNT, "nobody", ALERT)
    assert ses_backends[ACCOUNT][REGION].sent_messages == []


def test_an_unknown_user_is_a_typed_error(check: tuple[EmailOwnerCheck, ApiCallCounter]) -> None:
    owner_check, _ = check
    with pytest.raises(NotFound):
        owner_check.ask_owner(ACCOUNT, "ghost", ALERT)


def test_the_event_runtime_mails_owners_only_when_a_sender_is_configured() -> None:
    from credlife.aws.alerts import LoggingOwnerCheck
    from credlife.aws.risk_factory import build_owner_check
    from credlife.config import parse_settings

    with mock_aws():
        session = boto3.Session(region_name=REGION)
        without = build_owner_check(parse_settings({}), session, ApiCallCounter())
        with_sender = build_owner_check(parse_settings({"sender_email": SENDER}), session, ApiCallCounter())
    assert isinstance(without, LoggingOwnerCheck)
    assert isinstance(with_sender, EmailOwnerCheck)
