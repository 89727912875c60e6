"""The `credlife` command line, called as `credlife.cli.main([...])` inside `mock_aws()`: boto3's default
resolution (fake credentials, region from the environment) is intercepted by moto.

Keys are aged through moto's stored state (see `tests/e2e/conftest.py`) relative to `NOW`, and each command
runs inside `time_machine.travel(NOW, tick=False)`: the CLI takes its clock from `datetime.now`, and keys it
creates get that time as their CreateDate."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_socket
import time_machine

from credlife.aws.state_store import create_state_table
from credlife.cli import main
from tests.e2e.conftest import Account, Logs, secret_name

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TABLE = "credlife-cli-state"
PLAN_FIELDS = {"user", "credential", "key_id", "action", "reason", "control", "due", "deadline"}


def run(*argv: str) -> int:
    with time_machine.travel(NOW, tick=False):
        return main(list(argv))


def json_lines(text: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all(isinstance(row, dict) for row in rows)
    return rows


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def seed_findings(aws: Account) -> dict[str, str]:
    """An aged key in use (rotation due), an idle key (a deactivation to announce), a young key."""
    keys = {}
    for name, age, used_ago in (("ana.aged", 120, 1), ("ben.idle", 100, 60), ("eli.young", 10, 1)):
        aws.user(name, now=NOW)
        keys[name] = aws.key(name, now=NOW, age=age, used_ago=used_ago)
    return keys


# -- 1. plan --------------------------------------------------------------------------------------------


def test_plan_json_lists_findings_and_changes_nothing(
    aws: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an account with findings and an (empty) state table named in the environment
    keys = seed_findings(aws)
    create_state_table(aws.dynamodb, TABLE)
    monkeypatch.setenv("CREDLIFE_STATE_TABLE", TABLE)
    before = aws.all_keys()

    # When the operator plans with --json
    code = run("plan", "--json")

    # Then one JSON object per line names each finding with the real IAM key id, and the exit code is 1
    out = capsys.readouterr().out
    rows = json_lines(out)
    assert code == 1
    assert len(rows) == len(out.strip().splitlines()) == 2
    assert all(set(row) >= PLAN_FIELDS for row in rows)
    by_user = {row["user"]: row for row in rows}
    assert set(by_user) == {"ana.aged", "ben.idle"}
    aged, idle = by_user["ana.aged"], by_user["ben.idle"]
    assert (aged["action"], aged["reason"], aged["key_id"]) == (
        "rotate",
        "key_rotation_due",
        keys["ana.aged"],
    )
    assert aged["credential"] == "access_key"
    assert aged["due"] == (NOW - timedelta(days=30)).isoformat().replace("+00:00", "Z")
    assert (idle["action"], idle["warns_of"], idle["key_id"]) == ("warn", "deactivate", keys["ben.idle"])
    assert idle["deadline"] == (NOW + timedelta(days=7)).isoformat().replace("+00:00", "Z")
    assert all(row["dry_run"] is True for row in rows)  # the default policy
    # ... and nothing changed: IAM, Secrets Manager, the state table
    assert aws.all_keys() == before
    assert aws.secret_versions() == {}
    assert aws.table_items(TABLE) == []


def test_plan_without_state_table_plans_as_a_first_run(
    aws: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an account with findings and no state table yet (the stack is not deployed)
    keys = seed_findings(aws)
    assert aws.dynamodb.list_tables()["TableNames"] == []

    # When the operator plans
    code = run("plan", "--json")

    # Then the plan is a first run's plan (the rotation, and a notice before any deactivation)
    rows = json_lines(capsys.readouterr().out)
    assert code == 1
    assert {(r["user"], r["action"], r["key_id"]) for r in rows} == {
        ("ana.aged", "rotate", keys["ana.aged"]),
        ("ben.idle", "warn", keys["ben.idle"]),
    }
    assert aws.dynamodb.list_tables()["TableNames"] == []


def test_plan_on_a_healthy_account_exits_0(aws: Account, capsys: pytest.CaptureFixture[str]) -> None:
    # Given only young keys in daily use
    for name, age in (("fay.young", 10), ("gus.young", 60)):
        aws.user(name, now=NOW)
        aws.key(name, now=NOW, age=age, used_ago=0.5)

    # When the operator plans, in JSON and as text
    json_code = run("plan", "--json")
    json_out = capsys.readouterr().out
    text_code = run("plan")
    text_out = capsys.readouterr().out

    # Then there is nothing to print and the exit code is 0
    assert (json_code, json_out) == (0, "")
    assert text_code == 0
    assert "0 row(s) for 2 user(s) in account 123456789012" in text_out


def test_plan_reports_exempt_users_without_counting_them_as_findings(
    aws: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a young key and an aged key of a user tagged exempt
    aws.user("fay.young", now=NOW)
    aws.key("fay.young", now=NOW, age=10, used_ago=1)
    aws.user("olga.exempt", now=NOW, tags={"credlife:exempt": "vendor"})
    aws.key("olga.exempt", now=NOW, age=300, used_ago=1)

    # When the operator plans
    code = run("plan", "--json")

    # Then the exemption is listed (audited, never silent) but is no finding
    rows = json_lines(capsys.readouterr().out)
    assert [(r["user"], r["action"], r["reason"]) for r in rows] == [("olga.exempt", "exempt", "exempt_tag")]
    assert code == 0


# -- 2. apply -------------------------------------------------------------------------------------------

CONFIGS = {
    "json": ("settings.json", json.dumps({"state_table": TABLE, "policy": {"dry_run": False}})),
    "yaml": ("settings.yaml", f"state_table: {TABLE}\npolicy:\n  dry_run: false\n"),
}


@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
def test_apply_with_config_rotates_and_never_prints_the_secret(
    aws: Account,
    tmp_path: Path,
    logs: Logs,
    capsys: pytest.CaptureFixture[str],
    config: tuple[str, str],
) -> None:
    # Given an aged key in use, the state table, and a settings file switching dry-run off
    aws.user("ana.aged", now=NOW)
    old = aws.key("ana.aged", now=NOW, age=120, used_ago=1)
    create_state_table(aws.dynamodb, TABLE)
    path = write(tmp_path, *config)

    # When the operator applies
    code = run("apply", "--json", "--config", path)
    printed = capsys.readouterr()
    logged = logs.text()  # before the test reads the secret (that call is logged by botocore)

    # Then the key is rotated: the old one kept, the new one in the user's secret, both named in the output
    assert code == 1, printed.err
    keys = aws.keys("ana.aged")
    (new,) = set(keys) - {old}
    assert keys == {old: "Active", new: "Active"}
    (row,) = json_lines(printed.out)
    assert (row["action"], row["key_id"], row["outcome"]) == ("rotate", old, "applied")
    assert row["new_key_id"] == new
    assert row["secret_name"] == secret_name("ana.aged")
    assert row["dry_run"] is False
    handed_over = aws.secret("ana.aged")
    assert handed_over["AccessKeyId"] == new
    # ... and the secret access key is in no output and no log
    secret_key = handed_over["SecretAccessKey"]
    assert secret_key == aws.stored_key("ana.aged", new).secret_access_key
    assert new in logged  # the capture saw the run
    assert secret_key not in printed.out
    assert secret_key not in printed.err
    assert secret_key not in logged


def test_apply_respects_dry_run_by_default(aws: Account, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an aged key and the state table, with no settings file (dry-run is the default)
    aws.user("ana.aged", now=NOW)
    old = aws.key("ana.aged", now=NOW, age=120, used_ago=1)
    create_state_table(aws.dynamodb, "credlife-state")

    # When the operator applies
    code = run("apply", "--json")

    # Then the output says what would happen, and nothing changed in IAM or Secrets Manager
    (row,) = json_lines(capsys.readouterr().out)
    assert code == 1
    assert (row["action"], row["outcome"], row["dry_run"]) == ("rotate", "dry_run", True)
    assert aws.keys("ana.aged") == {old: "Active"}
    assert aws.secret_versions() == {}


# -- 3. invalid configuration ----------------------------------------------------------------------------

BAD_CONFIGS = {
    "unknown field": (
        "settings.json",
        json.dumps({"policy": {"rotate_after_dys": 80}}),
        ["policy.rotate_after_dys", "Extra inputs are not permitted"],
    ),
    "wrong type": (
        "settings.json",
        json.dumps({"policy": {"notice_days": "soon"}}),
        ["policy.notice_days", "valid integer"],
    ),
    "wrong type in yaml": (
        "settings.yaml",
        "policy:\n  notice_days: soon\n",
        ["policy.notice_days", "valid integer"],
    ),
    "malformed json": ("settings.json", '{"policy": {"dry_run": false', ["is not valid JSON", "line 1"]),
    "malformed yaml": ("settings.yaml", "policy: [dry_run\n", ["is not valid YAML"]),
    "not a mapping": ("settings.json", "[1, 2]", ["must hold a JSON object"]),
}


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize("bad", list(BAD_CONFIGS.values()), ids=list(BAD_CONFIGS))
def test_invalid_config_file_exits_2_naming_the_problem(
    aws: Account,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bad: tuple[str, str, list[str]],
    command: str,
) -> None:
    # Given a settings file with a mistake in it
    name, text, expected = bad
    path = write(tmp_path, name, text)

    # When the operator runs a command with it
    code = run(command, "--config", path)

    # Then it exits 2 with one line that names the file and the problem, and nothing ran
    printed = capsys.readouterr()
    assert code == 2
    assert printed.out == ""
    assert printed.err.startswith("credlife: ")
    assert path in printed.err
    for fragment in expected:
        assert fragment in printed.err
    assert "Traceback" not in printed.err


def test_missing_config_file_exits_2(
    aws: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a settings file path that does not exist
    missing = tmp_path / "nowhere" / "settings.yaml"

    # When the operator plans with it
    code = run("plan", "--config", str(missing))

    # Then it exits 2 saying the file cannot be read
    printed = capsys.readouterr()
    assert code == 2
    assert printed.err.strip() == f"credlife: cannot read config file {missing}: No such file or directory"


# -- 4. help ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ("plan", "Changes nothing"),
        ("apply", "dry_run"),
        ("report", "--out"),
        ("demo", "--days"),
    ],
)
def test_help_for_each_command(command: str, mentions: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given nothing but the command line
    # When the operator asks for a command's help
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])

    # Then it exits 0 and describes that command
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert out.startswith(f"usage: credlife {command}")
    assert mentions in out
    assert "--config" in out


# -- 5. no credentials -----------------------------------------------------------------------------------


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No credential source botocore could find, IMDS disabled, and sockets switched off: any attempt to
    reach the network fails the test instead of leaving the machine."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CREDENTIAL_FILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_ENDPOINT_URL",
        "CREDLIFE_CONFIG",
        "CREDLIFE_CONFIG_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("BOTO_CONFIG", str(tmp_path / "no-boto-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    pytest_socket.disable_socket(allow_unix_socket=True)
    try:
        yield
    finally:
        pytest_socket.enable_socket()


@pytest.mark.parametrize("command", ["plan", "report"])
def test_plan_without_credentials_exits_2_with_a_hint(
    no_credentials: None, capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    # Given no AWS credentials anywhere (and no moto)
    # When the operator plans (or writes the report)
    code = main(["report", "--out", str(tmp_path / "reports")] if command == "report" else ["plan"])

    # Then it exits 2 telling what is missing (not a socket error, not a stack trace)
    printed = capsys.readouterr()
    assert code == 2
    assert printed.out == ""
    assert printed.err.strip() == (
        "credlife: no AWS credentials found: set AWS_PROFILE (or run `aws configure` / `aws sso login`)"
    )


# -- 6. demo ---------------------------------------------------------------------------------------------


def test_demo_runs_and_prints_timeline_and_summary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the demo's own environment changes are undone after the test
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "POWERTOOLS_METRICS_DISABLED",
        "POWERTOOLS_TRACE_DISABLED",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_METRICS_NAMESPACE",
    ):
        monkeypatch.setenv(name, os.environ.get(name, "placeholder"))

    # When the demo walks 20 days in steps of 5
    code = main(["demo", "--days", "20", "--step", "5"])

    # Then it succeeds and prints the header, a timeline per user and the summary table
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("credential-lifecycle demo: 30 users, day 0 = 2026-01-05")
    assert "runs every 5 day(s) until day 20, dry_run=False" in out
    assert "── dan.overdue  (/people/)" in out
    assert "ROTATED" in out
    assert "exempt" in out
    summary = out[out.index("\nSummary\n") :]
    assert "keys on day 20" in summary
    assert summary.count("\n") > 25  # a row per user
    assert "API calls over 5 runs" in out
