"""Security Hub findings (`credlife.asff`, pure): which credentials fail which control, stable ids, and what
a run must send (new, changed, stale, resolved)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from credlife import asff
from credlife.domain.actions import Action, ActionKind, Reason, Severity
from credlife.domain.models import CredentialType, LoginProfile, User
from credlife.domain.root import ROOT_USER
from credlife.report import Report, build_report
from tests.builders import ACCOUNT, NOW, days, key, user

REGION = "eu-west-1"


def report_of(users: Sequence[User], actions: Sequence[Action] = (), now: datetime = NOW) -> Report:
    return build_report(account_id=ACCOUNT, now=now, dry_run=False, actions=actions, users=users, audit=None)


def findings(users: Sequence[User], actions: Sequence[Action] = (), now: datetime = NOW) -> dict[str, Any]:
    return asff.build_findings(report_of(users, actions, now), users, region=REGION)


def controls(found: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (f["ProductFields"]["credlife/user"], f["GeneratorId"].removeprefix("credlife/"))
        for f in found.values()
    }


def console(name: str, *, mfa: bool, used_ago: float | None) -> User:
    return replace(
        user(name),
        login_profile=LoginProfile(
            created=NOW - days(200), last_used=None if used_ago is None else NOW - days(used_ago)
        ),
        mfa_active=mfa,
    )


def test_each_credential_fails_exactly_the_controls_its_state_breaks() -> None:
    users = [
        user("aged", key(120, used_ago=1, key_id="AKIAAGED")),
        user("idle", key(60, used_ago=50)),
        user("never", key(46)),
        user("fresh", key(10, used_ago=1), key(200, used_ago=300, active=False)),
        user("edge", key(89, used_ago=44)),
        console("no-mfa", mfa=False, used_ago=1),
        console("stale-password", mfa=True, used_ago=45),
        console("good-human", mfa=True, used_ago=2),
    ]
    assert controls(findings(users)) == {
        ("aged", "IAM.3"),
        ("idle", "IAM.22"),
        ("never", "IAM.22"),  # never used: judged by its creation date
        ("no-mfa", "IAM.5"),
        ("stale-password", "IAM.8"),
    }


def test_a_finding_carries_the_asff_fields_security_hub_requires() -> None:
    found = findings([user("aged", key(120, used_ago=1, key_id="AKIAAGED"))])
    (finding,) = found.values()
    assert set(finding) >= {
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "Types",
        "CreatedAt",
        "UpdatedAt",
        "Severity",
        "Title",
        "Description",
        "Resources",
    }
    assert finding["SchemaVersion"] == "2018-10-08"
    assert finding["ProductArn"] == f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    assert finding["AwsAccountId"] == ACCOUNT
    assert finding["FindingProviderFields"]["Severity"] == {"Label": "MEDIUM"}
    assert finding["Compliance"] == {
        "Status": "FAILED",
        "RelatedRequirements": [
            "CIS AWS Foundations Benchmark v7.0.0 2.12",
            "AWS Foundational Security Best Practices v1.0.0 IAM.3",
        ],
        "SecurityControlId": "IAM.3",
    }
    assert finding["Remediation"]["Recommendation"]["Text"].startswith("Rotate the key")
    assert finding["Remediation"]["Recommendation"]["Url"].endswith("iam-controls.html#iam-3")
    assert finding["Resources"][0]["Type"] == "AwsIamAccessKey"
    assert finding["Resources"][0]["Id"] == "AKIAAGED"
    assert finding["CreatedAt"] == "2026-06-01T12:00:00.000Z"


def test_ids_are_stable_across_runs_and_do_not_depend_on_the_key_id_being_listed() -> None:
    listed = findings([user("aged", key(120, used_ago=1, key_id="AKIAAGED"))])
    tomorrow = NOW + days(1)
    unlisted = findings([user("aged", key(121, used_ago=1, now=tomorrow))], now=tomorrow)
    assert set(listed) == set(unlisted)
    assert next(iter(unlisted.values()))["UpdatedAt"] == "2026-06-02T12:00:00.000Z"


def test_exempt_users_are_not_judged() -> None:
    exempt = user("robot", key(400))
    row = Action(
        user="robot",
        credential=CredentialType.USER,
        action=ActionKind.EXEMPT,
        reason=Reason.EXEMPT_TAG,
        due=NOW,
    )
    assert findings([exempt], [row]) == {}


def test_account_level_rows_and_advice_become_findings_on_the_account_or_the_user() -> None:
    root = Action(
        user=ROOT_USER,
        credential=CredentialType.ROOT,
        action=ActionKind.ALERT,
        reason=Reason.ROOT_NO_MFA,
        due=NOW,
        severity=Severity.CRITICAL,
        detail="the root user has no MFA device",
    )
    direct = Action(
        user="dev",
        credential=CredentialType.USER,
        action=ActionKind.ADVISE,
        reason=Reason.DIRECT_POLICIES,
        due=NOW,
    )
    human_keys = replace(direct, reason=Reason.HUMAN_ACCESS_KEYS)
    found = findings([user("dev")], [root, direct, human_keys])
    by_generator = {f["GeneratorId"]: f for f in found.values()}
    assert by_generator["credlife/IAM.9"]["Resources"][0]["Type"] == "AwsAccount"
    assert by_generator["credlife/IAM.9"]["Severity"] == {"Label": "CRITICAL"}
    assert by_generator["credlife/IAM.2"]["Compliance"]["Status"] == "FAILED"
    assert by_generator["credlife/human_access_keys"]["Compliance"]["Status"] == "WARNING"


def imported(found: dict[str, Any], *, at: str = "2026-06-01T12:00:00.000Z") -> list[dict[str, Any]]:
    """What Security Hub holds after importing `found` (plus the fields it adds)."""
    return [{**f, "UpdatedAt": at, "CreatedAt": at, "WorkflowState": "NEW"} for f in found.values()]


def test_reconcile_sends_nothing_when_nothing_changed_and_refreshes_stale_findings() -> None:
    users = [user("aged", key(120, used_ago=1))]
    before = imported(findings(users))
    tomorrow = NOW + days(1)
    again = findings([user("aged", key(121, used_ago=1, now=tomorrow))], now=tomorrow)
    assert asff.reconcile(again, before, now=tomorrow) == []

    later = NOW + days(30)
    stale = findings([user("aged", key(150, used_ago=1, now=later))], now=later)
    (refreshed,) = asff.reconcile(stale, before, now=later)
    assert refreshed["CreatedAt"] == "2026-06-01T12:00:00.000Z"  # its first import's
    assert refreshed["UpdatedAt"] == "2026-07-01T12:00:00.000Z"


def test_reconcile_resolves_fixed_credentials_and_archives_exempted_users_as_not_evaluated() -> None:
    users = [user("aged", key(120, used_ago=1)), user("idle", key(60, used_ago=50))]
    before = imported(findings(users))
    tomorrow = NOW + days(1)
    fixed = [user("aged", key(1, used_ago=0, now=tomorrow)), user("idle", key(61, used_ago=51, now=tomorrow))]
    exempt_row = Action(
        user="idle",
        credential=CredentialType.USER,
        action=ActionKind.EXEMPT,
        reason=Reason.EXEMPT_TAG,
        due=tomorrow,
    )
    report = report_of(fixed, [exempt_row], now=tomorrow)
    now_found = asff.build_findings(report, fixed, region=REGION)
    changes = {
        c["ProductFields"]["credlife/user"]: c
        for c in asff.reconcile(now_found, before, now=tomorrow, exempt=asff.exempt_users(report))
    }
    assert changes["aged"]["RecordState"] == "ARCHIVED"
    assert changes["aged"]["Compliance"]["Status"] == "PASSED"
    assert changes["idle"]["RecordState"] == "ARCHIVED"
    assert changes["idle"]["Compliance"]["Status"] == "NOT_AVAILABLE"
    assert "WorkflowState" not in changes["aged"], "only fields a finding provider may set are sent back"
    assert changes["aged"]["CreatedAt"] == "2026-06-01T12:00:00.000Z"


def test_reconcile_never_touches_another_generators_findings_or_archived_ones() -> None:
    foreign = {
        "Id": "x",
        "GeneratorId": "someone/IAM.3",
        "RecordState": "ACTIVE",
        "UpdatedAt": "2020-01-01T00:00:00Z",
    }
    archived = {
        "Id": "credlife/old",
        "GeneratorId": "credlife/IAM.3",
        "RecordState": "ARCHIVED",
        "UpdatedAt": "2026-05-01T00:00:00Z",
    }
    assert asff.reconcile({}, [foreign, archived], now=NOW) == []


def test_a_finding_that_changes_is_sent_again() -> None:
    users = [console("human", mfa=False, used_ago=1)]
    before = imported(findings(users))
    tomorrow = NOW + days(1)
    worse = findings([console("human", mfa=False, used_ago=50)], now=tomorrow)  # now also unused
    sent = asff.reconcile(worse, before, now=tomorrow)
    assert [f["GeneratorId"] for f in sent] == ["credlife/IAM.8"]


def test_batches_hold_at_most_one_hundred_findings() -> None:
    items = [{"Id": str(i)} for i in range(250)]
    assert [len(b) for b in asff.batches(items)] == [100, 100, 50]
    assert [f["Id"] for b in asff.batches(items) for f in b] == [str(i) for i in range(250)]
