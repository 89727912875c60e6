"""The report's pure rendering (`credlife.report`): rows, control summary, charts, escaping."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest

from credlife.domain.actions import Action, ActionKind, Reason, Severity
from credlife.domain.models import AccessKey, CredentialType, KeyStatus, LoginProfile, User
from credlife.ports import AuditEntry
from credlife.report import CHART_IDS, build_report, render_csv, render_html, render_json, summary
from tests.builders import ACCOUNT, NOW, days


def aged_key_user(name: str = "ana") -> tuple[User, Action]:
    key = AccessKey(created=NOW - days(120), status=KeyStatus.ACTIVE, last_used=NOW - days(1), key_id="AKIA1")
    young = AccessKey(created=NOW - days(10), status=KeyStatus.ACTIVE, last_used=NOW - days(1))
    user = User(name=name, arn=f"arn:aws:iam::{ACCOUNT}:user/x", access_keys=(key, young))
    action = Action(
        user=name,
        credential=CredentialType.ACCESS_KEY,
        action=ActionKind.ROTATE,
        reason=Reason.KEY_ROTATION_DUE,
        due=NOW - days(30),
        key_id="AKIA1",
        key_created=key.created,
        severity=Severity.MEDIUM,
        detail="key is 120 days old",
    )
    return user, action


def test_rows_cover_every_credential_and_summarise_controls() -> None:
    # Given a workload user with an aged key (rotation due) and a young key, and a human without MFA
    user, action = aged_key_user()
    human = User(name="bo", arn="arn", login_profile=LoginProfile(created=NOW - days(3), last_used=NOW))

    # When the report is built
    report = build_report(
        account_id=ACCOUNT, now=NOW, dry_run=True, actions=[action], users=[user, human], audit=None
    )

    # Then the plan row is there as-is, and each other credential as an `ok` row
    rows = {(r["user"], r["credential"], r["action"], r["age_days"]) for r in report.rows}
    assert rows == {
        ("ana", "access_key", "rotate", 120),  # a finding row has its credential's age (and last use)
        ("ana", "access_key", "none", 10),
        ("bo", "password", "none", 3),
    }
    assert {r["user"]: r["user_kind"] for r in report.rows} == {"ana": "workload", "bo": "human"}
    # ... the control summary splits CIS from Security Hub and counts findings, not `ok` rows
    assert report.controls == (
        {
            "control": "CIS 2.12 / IAM.3",
            "cis": "CIS 2.12",
            "security_hub": "IAM.3",
            "reasons": ["key_rotation_due"],
            "findings": 1,
            "users": 1,
        },
    )
    assert dict(report.charts["chart-mfa-coverage"]) == {"with MFA": 0, "without MFA": 1}
    assert dict(report.charts["chart-key-age"])["90-179 d"] == 1
    assert report.charts["chart-upcoming"] == (("overdue or due now", 1),)
    assert report.charts["chart-actions-taken"] == ()
    # ... and CSV and JSON carry the same rows
    csv_rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    json_rows = json.loads(render_json(report))["rows"]
    assert (
        [r["action"] for r in csv_rows]
        == [r["action"] for r in json_rows]
        == [r["action"] for r in report.rows]
    )


def test_actions_taken_count_audit_results_only() -> None:
    # Given an audit log with an intent and a result for one rotation
    user, action = aged_key_user()
    entries = [
        AuditEntry(at=NOW, phase=phase, run_id="r1", action=action.as_row(), outcome=outcome)
        for phase, outcome in (("intent", ""), ("result", "applied"))
    ]

    # When the report is built
    report = build_report(account_id=ACCOUNT, now=NOW, dry_run=False, actions=[], users=[user], audit=entries)

    # Then only the result counts as an action taken
    assert report.charts["chart-actions-taken"] == (("rotate: applied", 1),)
    assert report.taken is not None
    assert [t["outcome"] for t in report.taken] == ["applied"]


def test_html_escapes_every_value_and_is_self_contained() -> None:
    # Given a user name and a detail that would be markup if not escaped
    hostile = 'x"><script>alert(1)</script>'
    user, action = aged_key_user(hostile)
    action = Action(**{**{f: getattr(action, f) for f in action.__slots__}, "detail": "<img src=x>"})

    # When the page is rendered
    page = render_html(
        build_report(account_id=ACCOUNT, now=NOW, dry_run=True, actions=[action], users=[user], audit=None)
    )

    # Then no value becomes markup, every chart is there, and nothing is loaded from anywhere
    assert page.count("<script") == 1  # the page's own inline sort-and-filter script, nothing injected
    assert "<script>alert" not in page
    assert "<img" not in page
    assert html_escaped(hostile) in page
    for chart_id in CHART_IDS:
        assert f'<svg id="{chart_id}"' in page
    assert not re.search(r"<[^>]*\s(src|href)=", page)
    assert "http" not in page
    assert "@import" not in page
    assert "url(" not in page


def html_escaped(text: str) -> str:
    return html.escape(text, quote=True)


# -- CSV injection, finding facts, a bounded upcoming chart ------------------------------------------------


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t"])
def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(start: str) -> None:
    # Given a user whose name (valid in IAM) and a detail start like a formula
    name = f"{start}HYPERLINK(evil)" if start in "=+-@" else "ok"
    action = Action(
        name if start != "\t" else "ana",
        CredentialType.USER,
        ActionKind.EXEMPT,
        Reason.EXEMPT_TAG,
        NOW,
        detail=f"{start}cmd|' /C calc'!A0",
    )
    report = build_report(account_id=ACCOUNT, now=NOW, dry_run=True, actions=[action], users=[], audit=None)

    # When written as CSV and read back
    (row,) = list(csv.DictReader(io.StringIO(render_csv(report))))

    # Then no cell starts with a formula character: each is prefixed with an apostrophe
    assert row["detail"] == f"'{start}cmd|' /C calc'!A0"
    if start in "=+-@":
        assert row["user"] == f"'{name}"
    assert not any(str(v).startswith(("=", "+", "-", "@", "\t")) for v in row.values())


def test_the_upcoming_chart_is_bounded_and_keeps_overdue_apart() -> None:
    # Given 2,000 actions spread over the past year and the next two years
    actions = [
        Action(
            f"u{i}",
            CredentialType.ACCESS_KEY,
            ActionKind.ROTATE,
            Reason.KEY_ROTATION_DUE,
            NOW + days(i - 365),
        )
        for i in range(0, 2000, 1)
    ]

    # When the report is built
    report = build_report(account_id=ACCOUNT, now=NOW, dry_run=True, actions=actions, users=[], audit=None)
    bars = report.charts["chart-upcoming"]

    # Then the past is one "overdue" bar, the next 12 weeks a bar each, the rest one "later" bar
    assert bars[0] == ("overdue or due now", 366)
    assert bars[-1][0] == "later"
    assert len(bars) <= 14
    assert all(label.startswith("week of ") for label, _ in bars[1:-1])
    assert sum(count for _, count in bars) == 2000


def test_the_summary_band_shows_the_30_and_90_day_trend_of_actions_taken() -> None:
    # Given results in the audit trail 10, 50 and 100 days ago, read 90 days back
    user, action = aged_key_user("ana")
    entries = [
        AuditEntry(
            at=NOW - days(ago), phase="result", run_id=f"r{ago}", action=action.as_row(), outcome="applied"
        )
        for ago in (10, 50, 100)
    ]
    report = build_report(
        account_id=ACCOUNT, now=NOW, dry_run=False, actions=[], users=[user], audit=entries, audit_days=90
    )

    # When the summary is taken
    facts = summary(report)

    # Then the trend counts each window; the chart keeps to the last 30 days
    assert facts["taken"] == {30: 1, 90: 2}
    assert report.charts["chart-actions-taken"] == (("rotate: applied", 1),)
    assert "1 in 30 d, 2 in 90 d" in render_html(report)
    # ... and a report whose audit read reaches only 30 days shows no 90-day figure
    short = build_report(account_id=ACCOUNT, now=NOW, dry_run=False, actions=[], users=[user], audit=entries)
    assert summary(short)["taken"] == {30: 1}


def test_share_compliant_per_control_counts_credentials_not_rows() -> None:
    # Given two users' keys: one due for rotation, one fine
    aged, action = aged_key_user("ana")
    young = User(
        name="bo",
        arn=f"arn:aws:iam::{ACCOUNT}:user/bo",
        access_keys=(AccessKey(created=NOW - days(5), status=KeyStatus.ACTIVE, last_used=NOW),),
    )
    report = build_report(
        account_id=ACCOUNT, now=NOW, dry_run=True, actions=[action], users=[aged, young], audit=None
    )

    # Then two of the three access keys (ana has a young one too) comply with IAM.3, all with IAM.22
    assert summary(report)["compliant"] == {"IAM.3": (2, 3), "IAM.22": (3, 3)}
    assert summary(report)["severity"] == {"critical": 0, "high": 0, "medium": 1, "low": 0, "info": 0}
