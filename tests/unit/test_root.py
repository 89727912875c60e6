"""Root findings from hand-built credential-report rows (moto's report has no `<root_account>` row)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from credlife.aws.credential_report import parse_credential_report
from credlife.domain.actions import ActionKind, Reason, Severity
from credlife.domain.root import RootAccount, root_findings
from tests.builders import REPORT_HEADER as HEADER

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def root_row(*, mfa: bool, key1: bool = False, password_used: str = "N/A", key1_used: str = "N/A") -> str:
    row = dict.fromkeys(HEADER, "N/A")
    row.update(
        user="<root_account>",
        arn="arn:aws:iam::123456789012:root",
        user_creation_time="2020-01-01T00:00:00+00:00",
        password_enabled="not_supported",
        password_last_used=password_used,
        mfa_active=str(mfa).lower(),
        access_key_1_active=str(key1).lower(),
        access_key_1_last_rotated="2021-01-01T00:00:00+00:00" if key1 else "N/A",
        access_key_1_last_used_date=key1_used,
        access_key_2_active="false",
        cert_1_active="false",
        cert_2_active="false",
    )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerow(row)
    return out.getvalue()


def from_report(text: str) -> RootAccount:
    root = parse_credential_report(text).root
    assert root is not None
    return RootAccount(
        mfa_active=bool(root.mfa_active),
        access_keys_active=tuple(bool(s.active) for s in root.key_slots),
        password_last_used=root.password_last_used,
        access_keys_last_used=tuple(s.last_used_date for s in root.key_slots),
    )


def reasons(root: RootAccount) -> set[Reason]:
    return {a.reason for a in root_findings(root, NOW)}


def test_a_healthy_root_has_no_finding() -> None:
    # Given a root with MFA, no keys, last used long ago
    root = from_report(root_row(mfa=True, password_used="2025-01-01T00:00:00+00:00"))
    assert root_findings(root, NOW) == []


def test_no_root_row_no_finding() -> None:
    assert root_findings(None, NOW) == []


def test_root_access_key_and_no_mfa_are_critical_alerts_never_actions() -> None:
    root = from_report(root_row(mfa=False, key1=True))
    found = root_findings(root, NOW)
    assert {a.reason for a in found} == {Reason.ROOT_ACCESS_KEYS, Reason.ROOT_NO_MFA}
    assert {a.action for a in found} == {ActionKind.ALERT}
    assert {a.severity for a in found} == {Severity.CRITICAL}
    assert {a.control for a in found} == {"CIS 2.3 / IAM.4", "CIS 2.5 / IAM.9"}


@pytest.mark.parametrize(("days_ago", "flagged"), [(29.9, True), (30, True), (30.1, False)])
def test_recent_use_edge(days_ago: float, flagged: bool) -> None:
    used = (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    root = from_report(root_row(mfa=True, password_used=used))
    assert (Reason.ROOT_RECENT_USE in reasons(root)) is flagged


def test_recent_use_of_a_root_access_key_counts_too() -> None:
    used = (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    root = from_report(root_row(mfa=True, key1=True, key1_used=used))
    assert reasons(root) == {Reason.ROOT_ACCESS_KEYS, Reason.ROOT_RECENT_USE}


def test_the_inventory_reads_the_root_row_of_a_hand_built_report_and_the_planner_only_alerts() -> None:
    # Given IAM answering with a hand-built report (moto has no root row), through botocore's Stubber
    import boto3
    from botocore.stub import Stubber

    from credlife.aws.inventory import IamInventory
    from credlife.domain.models import AccountFacts, AccountSnapshot
    from credlife.domain.planner import plan
    from credlife.domain.policy import Policy

    text = root_row(mfa=False, key1=True, key1_used="2026-05-30T10:00:00+00:00")
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    inventory = IamInventory(client, sts_client=boto3.client("sts", region_name="us-east-1"))
    with Stubber(client) as stub:
        stub.add_response("generate_credential_report", {"State": "COMPLETE"})
        stub.add_response(
            "get_credential_report",
            {"Content": text.encode(), "ReportFormat": "text/csv", "GeneratedTime": NOW},
        )
        stub.add_response("get_account_authorization_details", {"UserDetailList": [], "IsTruncated": False})
        assert inventory.users() == ()
    root = inventory.root_account()
    assert root == RootAccount(
        mfa_active=False,
        access_keys_active=(True, False),
        password_last_used=None,
        access_keys_last_used=(datetime(2026, 5, 30, 10, tzinfo=UTC), None),
    )
    # When planned: three alerts about root, never an action on it
    snapshot = AccountSnapshot("123456789012", NOW, (), account=AccountFacts(root=root))
    actions = plan(snapshot, Policy(dry_run=False), NOW)
    assert [(a.user, a.action, a.reason) for a in actions] == [
        ("<root_account>", ActionKind.ALERT, Reason.ROOT_ACCESS_KEYS),
        ("<root_account>", ActionKind.ALERT, Reason.ROOT_NO_MFA),
        ("<root_account>", ActionKind.ALERT, Reason.ROOT_RECENT_USE),
    ]
