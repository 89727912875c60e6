"""Organization adapters where moto cannot show the behaviour: `ListAccounts` paging and SQS batch
failures, through botocore's Stubber (which checks our requests against the real API model)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from credlife.aws.organizations import AccountDirectory, AccountMessage, AccountQueue
from credlife.config import ConfigError, OrganizationSettings, parse_settings

NOW = datetime(2026, 6, 1, 6, tzinfo=UTC)
QUEUE = "https://sqs.us-east-1.amazonaws.com/111111111111/credlife-accounts"


def account(account_id: str, state: str = "ACTIVE") -> dict[str, Any]:
    return {
        "Id": account_id,
        "Arn": f"arn:aws:organizations::111111111111:account/o-example/{account_id}",
        "Email": f"{account_id}@example.com",
        "Name": f"acct-{account_id}",
        "State": state,
    }


def test_every_page_of_accounts_is_read_and_only_active_ones_kept() -> None:
    # Given Organizations answers in two pages, with one suspended account
    client = boto3.client("organizations", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "list_accounts",
            {"Accounts": [account("222222222222"), account("333333333333", "SUSPENDED")], "NextToken": "t1"},
            {},
        )
        stub.add_response("list_accounts", {"Accounts": [account("444444444444")]}, {"NextToken": "t1"})
        # When the directory lists the accounts to scan, one excluded by id
        found = AccountDirectory(client).accounts(OrganizationSettings(exclude_accounts=("444444444444",)))
        stub.assert_no_pending_responses()
    # Then both pages were read, the suspended and the excluded accounts are left out
    assert [a.account_id for a in found] == ["222222222222"]


def test_a_failed_batch_or_entry_is_reported_and_the_other_batches_still_go() -> None:
    # Given 25 accounts (three batches of at most ten); the second batch fails as a whole and one entry of
    # the third is rejected
    client = boto3.client("sqs", region_name="us-east-1")
    messages = [AccountMessage(f"{100000000000 + i}", NOW) for i in range(25)]
    with Stubber(client) as stub:
        stub.add_response("send_message_batch", {"Successful": [_ok(i) for i in range(10)], "Failed": []})
        stub.add_client_error("send_message_batch", service_error_code="ThrottlingException")
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [_ok(i) for i in range(5) if i != 3],
                "Failed": [{"Id": "3", "SenderFault": False, "Code": "InternalError"}],
            },
        )
        # When queued
        failed = AccountQueue(QUEUE, client).send(messages)
        stub.assert_no_pending_responses()
    # Then exactly the accounts of the failed batch and the rejected entry are reported
    assert failed == [m.account_id for m in messages[10:20]] + [messages[23].account_id]


def test_messages_round_trip_and_bad_bodies_are_rejected() -> None:
    message = AccountMessage("123456789012", NOW, "prod")
    assert AccountMessage.from_json(message.to_json()) == message
    for body in ("not json", "[]", '{"account_id": "12", "time": "2026-06-01T06:00:00+00:00"}'):
        with pytest.raises(ValueError, match=r"."):
            AccountMessage.from_json(body)


def test_organization_mode_without_a_queue_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"organization.*queue_url"):
        parse_settings({"organization": {"enabled": True}})
    with pytest.raises(ConfigError, match=r"organization\.include_accounts\.0"):
        parse_settings({"organization": {"enabled": True, "queue_url": QUEUE, "include_accounts": ["12"]}})


def _ok(i: int) -> dict[str, str]:
    return {"Id": str(i), "MessageId": f"m{i}", "MD5OfMessageBody": "0" * 32}
