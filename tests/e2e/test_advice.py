"""Best-practice advice end to end (the CLI against moto): advice rows appear in `plan --json`, the report
and the owner's messages, and never change IAM, even with dry-run off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from credlife.aws.state_store import create_state_table
from tests.e2e.conftest import Account
from tests.e2e.test_cli import NOW, TABLE, json_lines, run, write

pytestmark = pytest.mark.e2e

POLICY_DOC = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
)
ADVICE_CONFIG = {"policy": {"advice_enabled": True, "require_permissions_boundary": True}}


def seed(aws: Account) -> None:
    """A human with a key, a workload with a 45-day key, a grouped user with an inline policy of its own.
    No access-key rule is due (keys in daily use, young enough); the human's console password (never used,
    no MFA) gets its own lifecycle notices."""
    aws.user("hana.human", now=NOW)
    aws.iam.create_login_profile(UserName="hana.human", Password="Not-a-real-pw-1234")
    aws.key("hana.human", now=NOW, age=10, used_ago=1)
    aws.user("wes.workload", now=NOW)
    aws.key("wes.workload", now=NOW, age=45, used_ago=1)
    aws.user("gil.grouped", now=NOW)
    aws.iam.create_group(GroupName="readers")
    aws.iam.add_user_to_group(GroupName="readers", UserName="gil.grouped")
    aws.iam.put_user_policy(UserName="gil.grouped", PolicyName="own-s3", PolicyDocument=POLICY_DOC)


def iam_state(aws: Account) -> dict[str, Any]:
    return {
        name: {
            "keys": aws.keys(name),
            "inline": aws.iam.list_user_policies(UserName=name)["PolicyNames"],
            "attached": aws.iam.list_attached_user_policies(UserName=name)["AttachedPolicies"],
            "groups": [g["GroupName"] for g in aws.iam.list_groups_for_user(UserName=name)["Groups"]],
        }
        for name in aws.users
    }


def advice_rows(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(r["user"], r["reason"]) for r in rows if r["action"] == "advise"}


EXPECTED = {
    ("hana.human", "human_access_keys"),
    ("wes.workload", "workload_access_keys"),
    ("gil.grouped", "direct_policies"),
    ("hana.human", "no_permissions_boundary"),
    ("wes.workload", "no_permissions_boundary"),
    ("gil.grouped", "no_permissions_boundary"),
}


def test_advice_rows_appear_in_plan_and_report(
    aws: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given users each rule applies to, and advice switched on by config
    seed(aws)
    config = write(tmp_path, "config.json", json.dumps(ADVICE_CONFIG))

    # When the operator plans with --json and writes the report
    code = run("plan", "--json", "--config", config)
    plan_rows = json_lines(capsys.readouterr().out)
    run("report", "--config", config, "--out", str(tmp_path / "out"))

    # Then each rule gives one advice row per user, with no key id (no ListAccessKeys for advice) ...
    assert advice_rows(plan_rows) == EXPECTED
    advised = [r for r in plan_rows if r["action"] == "advise"]
    assert all(r["key_id"] is None and r["credential"] == "user" for r in advised)
    assert next(r for r in advised if r["reason"] == "direct_policies")["control"] == "IAM.2"
    # ... beside the lifecycle rows, which are unchanged (only the human's console password and MFA)
    others = {(r["user"], r["credential"]) for r in plan_rows if r["action"] != "advise"}
    assert others == {("hana.human", "password"), ("hana.human", "mfa")}
    assert code == 1
    # ... and the report carries the same rows, users classified human / workload
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert advice_rows(report["rows"]) == EXPECTED
    kinds = {r["user"]: r["user_kind"] for r in report["rows"]}
    assert kinds == {"hana.human": "human", "wes.workload": "workload", "gil.grouped": "none"}
    assert 'data-action="advise"' in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_advice_never_changes_iam_and_reaches_the_owner_outbox(
    aws: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the same users, advice on, dry-run OFF, and the state table deployed
    seed(aws)
    create_state_table(aws.dynamodb, TABLE)
    monkeypatch.setenv("CREDLIFE_STATE_TABLE", TABLE)
    config = write(
        tmp_path, "config.json", json.dumps({"policy": {**ADVICE_CONFIG["policy"], "dry_run": False}})
    )
    before = iam_state(aws)

    # When the operator applies
    code = run("apply", "--json", "--config", config)
    outcomes = json_lines(capsys.readouterr().out)

    # Then every advice row was only reported: IAM (keys, policies, groups) and Secrets Manager unchanged
    assert code == 1  # the human's console notices
    assert advice_rows(outcomes) == EXPECTED
    assert {r["outcome"] for r in outcomes if r["action"] == "advise"} == {"reported"}
    assert {r["action"] for r in outcomes if r["action"] != "advise"} == {"warn"}
    assert iam_state(aws) == before
    assert aws.secret_versions() == {}
    # ... audited, and queued for the owners' digests (once per user and rule)
    items = json.dumps(aws.table_items(TABLE))
    assert items.count("advice: direct_policies") >= 1
    assert "aws configure sso" in items


def test_the_advice_flag_shows_advice_without_a_config_and_it_is_off_otherwise(
    aws: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the same users and no settings file (advice is off in the default policy)
    seed(aws)

    # When the operator plans without and with --advice
    run("plan", "--json")
    without = json_lines(capsys.readouterr().out)
    run("plan", "--json", "--advice")
    with_flag = json_lines(capsys.readouterr().out)
    run("report", "--advice", "--out", str(tmp_path / "out"))

    # Then only the flagged runs carry advice (no boundary rule: the default config requires none) ...
    expected = {a for a in EXPECTED if a[1] != "no_permissions_boundary"}
    assert advice_rows(without) == set()
    assert advice_rows(with_flag) == expected
    # ... and the lifecycle rows are the same either way
    assert [r for r in with_flag if r["action"] != "advise"] == without
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert advice_rows(report["rows"]) == expected
