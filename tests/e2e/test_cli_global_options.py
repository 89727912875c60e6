"""The CLI cannot silently ignore its settings: global options work before or after the command, the region
is the one the operator named, stdout is only the command's output, a deadline bounds every AWS command,
Ctrl-C is one line, and names that match nothing are errors.

Run in-process inside moto (see tests/e2e/test_cli.py), except the stdout check, which runs the CLI in a
child process: only there is stdout the real file descriptor a log handler binds to at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
import time_machine
from botocore.client import BaseClient

from credlife.aws.state_store import create_state_table
from credlife.cli import main, resolve_region
from tests.e2e.conftest import Account, failing

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str) -> int:
    with time_machine.travel(NOW, tick=False):
        return main(list(argv))


def rows(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def exempting(aws: Account, tmp_path: Path) -> str:
    """Two users with an aged key in use; the settings file names one of them a break-glass user."""
    for name in ("ana.aged", "olga.breakglass"):
        aws.user(name, now=NOW)
        aws.key(name, now=NOW, age=120, used_ago=1)
    path = tmp_path / "settings.yaml"
    path.write_text("policy:\n  break_glass_users: [olga.breakglass]\n", encoding="utf-8")
    return str(path)


# -- 1. the settings file is honoured wherever --config stands --------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("--config", "{f}", "plan", "--json"),
        ("plan", "--config", "{f}", "--json"),
        ("--json", "--config", "{f}", "plan"),
        ("--config", "{f}", "--json", "plan"),
    ],
    ids=["config-before", "config-after", "json-and-config-before", "all-before"],
)
def test_plan_honours_the_settings_file_before_or_after_the_command(
    exempting: str, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    # Given a settings file that exempts olga.breakglass
    # When the operator plans with --config on either side of the command
    code = run(*(arg.format(f=exempting) for arg in argv))

    # Then the exemption is honoured: olga's aged key is an exempt row, never a rotation
    printed = capsys.readouterr()
    by_user = {(r["user"], r["action"], r["reason"]) for r in rows(printed.out)}
    assert by_user == {
        ("ana.aged", "rotate", "key_rotation_due"),
        ("olga.breakglass", "exempt", "exempt_break_glass"),
    }, printed.err
    assert code == 1


@pytest.mark.parametrize("order", ["before", "after"])
def test_apply_live_honours_the_exemption_before_or_after(
    exempting: str, aws: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str], order: str
) -> None:
    # Given the exempting settings with dry-run off (live), and the state table
    live = tmp_path / "live.yaml"
    live.write_text(Path(exempting).read_text(encoding="utf-8") + "  dry_run: false\n", encoding="utf-8")
    create_state_table(aws.dynamodb, "credlife-state")
    olga_before = aws.keys("olga.breakglass")

    # When the operator applies with --config before or after the command
    argv = ["--config", str(live), "apply"] if order == "before" else ["apply", "--config", str(live)]
    code = run(*argv)

    # Then ana's key was rotated and olga's keys are untouched
    printed = capsys.readouterr()
    assert code == 1, printed.err
    assert len(aws.keys("ana.aged")) == 2
    assert aws.keys("olga.breakglass") == olga_before


@pytest.mark.parametrize("order", ["before", "after"])
def test_missing_settings_file_exits_2_naming_it_on_either_side(
    aws: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str], order: str
) -> None:
    # Given a settings path that does not exist
    missing = str(tmp_path / "nowhere.yaml")

    # When it is given before or after the command
    argv = ["--config", missing, "plan"] if order == "before" else ["plan", "--config", missing]
    code = run(*argv)

    # Then the command stops at once, exit 2, naming the file
    printed = capsys.readouterr()
    assert code == 2
    assert printed.out == ""
    assert printed.err.strip() == f"credlife: cannot read config file {missing}: No such file or directory"


def test_invalid_settings_file_before_the_command_exits_2(
    aws: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a settings file with a typo in a field name
    bad = tmp_path / "settings.json"
    bad.write_text(json.dumps({"policy": {"break_glass_user": ["olga"]}}), encoding="utf-8")

    # When it is given before the command
    code = run("--config", str(bad), "apply")

    # Then exit 2, naming the file and the field
    err = capsys.readouterr().err
    assert code == 2
    assert str(bad) in err
    assert "policy.break_glass_user" in err


def test_json_before_a_command_without_json_output_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # When --json is given to a command that has no JSON output
    with pytest.raises(SystemExit) as exited:
        main(["--json", "report", "--out", str(tmp_path)])

    # Then it is refused (exit 2), not ignored
    assert exited.value.code == 2
    assert "--json does not apply to report" in capsys.readouterr().err


# -- 2. the region ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "configured", "environ", "profile", "expected"),
    [
        ("eu-west-3", "eu-west-2", {"AWS_REGION": "eu-west-1"}, "us-west-2", ("eu-west-3", "--region")),
        (None, "eu-west-2", {"AWS_REGION": "eu-west-1"}, "us-west-2", ("eu-west-2", "settings region")),
        (
            None,
            None,
            {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"},
            "us-west-2",
            ("eu-west-1", "AWS_REGION"),
        ),
        (None, None, {"AWS_DEFAULT_REGION": "us-east-1"}, "us-west-2", ("us-east-1", "AWS_DEFAULT_REGION")),
        (None, None, {}, "us-west-2", ("us-west-2", "profile")),
        (None, None, {"AWS_REGION": ""}, None, (None, "none")),
    ],
    ids=["flag", "settings", "aws-region", "aws-default-region", "profile", "none"],
)
def test_region_resolution_order(
    explicit: str | None,
    configured: str | None,
    environ: dict[str, str],
    profile: str | None,
    expected: tuple[str | None, str],
) -> None:
    assert resolve_region(explicit, configured, environ, profile) == expected


def _table_in(region: str) -> None:
    create_state_table(boto3.client("dynamodb", region_name=region), "credlife-state")


def test_aws_region_is_honoured_over_aws_default_region(
    aws: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the state table in eu-west-1 only, AWS_REGION=eu-west-1 and AWS_DEFAULT_REGION=us-east-1
    aws.user("ana.aged", now=NOW)
    aws.key("ana.aged", now=NOW, age=120, used_ago=1)
    _table_in("eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    # When the operator applies (dry-run by default)
    code = run("apply", "--json")

    # Then the table in eu-west-1 was found (no "not found"), and the run planned the rotation
    printed = capsys.readouterr()
    assert code == 1, printed.err
    assert [(r["action"], r["outcome"]) for r in rows(printed.out)] == [("rotate", "dry_run")]


def test_region_flag_before_the_command_wins(
    aws: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the table in eu-central-1 only and the environment pointing at us-east-1
    aws.user("ana.aged", now=NOW)
    aws.key("ana.aged", now=NOW, age=120, used_ago=1)
    _table_in("eu-central-1")

    # When --region names eu-central-1 before the command
    code = run("--region", "eu-central-1", "apply", "--json")

    # Then the run used that region's table
    printed = capsys.readouterr()
    assert code == 1, printed.err
    assert [r["outcome"] for r in rows(printed.out)] == ["dry_run"]


def test_profile_region_is_used_when_the_environment_names_none(
    aws: Account, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a profile configured for ap-southeast-2, no region in the environment, the table there
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile ops]\nregion = ap-southeast-2\n"
        "aws_access_key_id = testing\naws_secret_access_key = testing\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    aws.user("ana.aged", now=NOW)
    aws.key("ana.aged", now=NOW, age=120, used_ago=1)
    _table_in("ap-southeast-2")

    # When the operator plans with --profile after the command
    code = run("plan", "--profile", "ops")

    # Then the plan read that region's (empty) table: no first-run warning, and says which region it used
    printed = capsys.readouterr()
    assert code == 1, printed.err
    assert "state table not found" not in printed.err
    assert "(region ap-southeast-2 from profile)" in printed.out


def test_apply_without_the_state_table_is_an_error_not_a_first_run(
    aws: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the table exists only in another region than the one the command resolves
    aws.user("ana.aged", now=NOW)
    aws.key("ana.aged", now=NOW, age=120, used_ago=1)
    _table_in("eu-west-1")

    # When the operator applies, live, in us-east-1 (the environment's region)
    monkeypatch.setenv("CREDLIFE_DRY_RUN", "false")
    code = run("apply")

    # Then it stops with exit 2 naming the table and the region (and where that came from); nothing changed
    printed = capsys.readouterr()
    assert code == 2
    assert printed.out == ""
    assert printed.err.strip() == (
        "credlife: state table credlife-state not found (region us-east-1 from AWS_REGION): apply needs the "
        "deployed stack's table; check --region / AWS_REGION / --profile and the settings' state_table"
    )
    assert len(aws.keys("ana.aged")) == 1


def test_plan_without_the_state_table_warns_naming_table_and_region(
    aws: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given no state table in the region
    aws.user("ana.aged", now=NOW)
    aws.key("ana.aged", now=NOW, age=120, used_ago=1)

    # When the operator plans (read-only: a first run's plan is still useful before deployment)
    code = run("plan", "--json")

    # Then the warning names the table and the region it looked in
    printed = capsys.readouterr()
    assert code == 1
    assert (
        "state table not found: planning as a first run (no recorded notices) "
        "[table credlife-state, region us-east-1 from AWS_REGION]"
    ) in printed.err


# -- 3. names that match nothing ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_unknown_user_exits_2(aws: Account, capsys: pytest.CaptureFixture[str], command: str) -> None:
    # Given an account with one user and the state table
    aws.user("ana.aged", now=NOW)
    create_state_table(aws.dynamodb, "credlife-state")

    # When the operator names a user that does not exist
    code = run(command, "--user", "nosuch")

    # Then exit 2 saying so
    printed = capsys.readouterr()
    assert code == 2
    assert "credlife: no IAM user named 'nosuch' in account 123456789012" in printed.err


def test_rotate_now_of_an_unknown_user_exits_2(aws: Account, capsys: pytest.CaptureFixture[str]) -> None:
    create_state_table(aws.dynamodb, "credlife-state")
    assert run("rotate-now", "nosuch", "--json") == 2
    assert "no IAM user named 'nosuch'" in capsys.readouterr().err


# -- 4. deadline and Ctrl-C ------------------------------------------------------------------------------


def test_a_total_deadline_ends_endless_throttling_with_one_line(
    aws: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given IAM throttling every authorization-details call (injected: moto never throttles); the retry
    # loop sleeps for real (1 s, 2 s, 4 s, ...)
    aws.user("ana.aged", now=NOW)
    started = time.monotonic()
    with failing("GetAccountAuthorizationDetails", "Throttling"):
        # When the operator plans with a 1.5-second deadline
        code = main(["plan", "--timeout", "1.5"])
    elapsed = time.monotonic() - started

    # Then it gives up at the deadline (not after the whole retry budget), having shown the retrying
    printed = capsys.readouterr()
    assert code == 2
    assert elapsed < 30  # the retry budget alone would take minutes (1 + 2 + 4 + ... + 60 s)
    assert printed.out == ""
    lines = printed.err.splitlines()
    assert lines[0].startswith(
        "credlife: AWS is throttling iam:GetAccountAuthorizationDetails: retrying in 1 s"
    )
    assert lines[-1] == (
        "credlife: gave up after 1.5 s (--timeout): AWS kept throttling "
        "iam:GetAccountAuthorizationDetails; try again later or allow more time with --timeout SECONDS"
    )


@contextmanager
def interrupted_at(operation: str) -> Iterator[None]:
    """Ctrl-C while `operation` is in flight (a signal cannot be timed into moto's call: raised there)."""
    real = BaseClient._make_api_call  # type: ignore[attr-defined]

    def call(self: BaseClient, name: str, params: dict[str, Any]) -> Any:
        if name == operation:
            raise KeyboardInterrupt
        return real(self, name, params)

    with mock.patch.object(BaseClient, "_make_api_call", call):
        yield


@pytest.mark.parametrize("command", [("plan",), ("apply",), ("report", "--out", "OUT")])
def test_ctrl_c_exits_130_with_one_line(
    aws: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    aws.user("ana.aged", now=NOW)
    create_state_table(aws.dynamodb, "credlife-state")
    with interrupted_at("GetAccountAuthorizationDetails"):
        progress = ["--progress"] if command[0] != "apply" else []
        code = run(*(arg.replace("OUT", str(tmp_path)) for arg in command), *progress)
    printed = capsys.readouterr()
    assert code == 130
    assert printed.out == ""
    assert printed.err.splitlines()[-1] == "credlife: interrupted"
    assert "Traceback" not in printed.err


# -- 5. stdout is only the output ------------------------------------------------------------------------

_CHILD = """
import json, sys
import boto3
from moto import mock_aws

with mock_aws():
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="ana")
    iam.create_access_key(UserName="ana")
    iam.generate_credential_report()
    from credlife.aws.state_store import create_state_table
    create_state_table(boto3.client("dynamodb", region_name="us-east-1"), "credlife-state")
    # The Powertools logger the Lambda handlers share, bound to stdout as in a function; INFO and up.
    import credlife.handlers.observability
    from credlife.cli import main
    sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "argv", [["rotate-now", "ana", "--json"], ["--json", "plan"], ["apply", "--json"]], ids=str
)
def test_json_output_parses_in_a_real_process(tmp_path: Path, argv: list[str]) -> None:
    # Given a child process with its own stdout, the shared Powertools logger bound to it
    env = {
        **os.environ,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
    }
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(_CHILD), encoding="utf-8")

    # When the command runs with --json
    done = subprocess.run(  # noqa: S603 - this interpreter, a script the test wrote
        [sys.executable, str(script), *argv], capture_output=True, text=True, env=env, timeout=120
    )

    # Then stdout is only the result (the log lines went to stderr): one JSON object for rotate-now,
    # one plan or outcome row per line for the others
    assert done.returncode in (0, 1), done.stderr
    if argv[0] == "rotate-now":
        assert json.loads(done.stdout)["status"] == "would_rotate"
    else:
        parsed = [json.loads(line) for line in done.stdout.splitlines()]
        assert parsed, done.stderr
        assert all({"user", "credential", "action", "reason", "due"} <= set(row) for row in parsed)
        assert not any("level" in row for row in parsed)  # no Powertools log line


# -- 6. user names with commas ---------------------------------------------------------------------------


def test_a_user_whose_name_has_a_comma_is_planned(aws: Account, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a user named with a comma (valid in IAM; moto's credential report joins it with bare commas)
    key = aws.key(aws.user("svc,build", now=NOW), now=NOW, age=120, used_ago=1)

    # When the operator plans
    code = run("plan", "--json")

    # Then the user is in the plan with its real key id, and nothing is reported unreadable
    printed = capsys.readouterr()
    assert [(r["user"], r["action"], r["key_id"]) for r in rows(printed.out)] == [
        ("svc,build", "rotate", key)
    ]
    assert code == 1, printed.err
    assert "could not be read" not in printed.err


def test_an_unreadable_report_row_fails_the_scan_saying_so(
    aws: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a credential report whose row for one user cannot be read (its active flag is garbled;
    # moto writes well-formed rows, so the report text is altered on its way in)
    aws.user("ana.aged", now=NOW)
    aws.key("ana.aged", now=NOW, age=120, used_ago=1)
    real = BaseClient._make_api_call  # type: ignore[attr-defined]

    def call(self: BaseClient, name: str, params: dict[str, Any]) -> Any:
        response = real(self, name, params)
        if name == "GetCredentialReport":
            text = response["Content"].decode()
            response["Content"] = text.replace(",true,", ",maybe,", 1).encode()
        return response

    with mock.patch.object(BaseClient, "_make_api_call", call):
        code = run("plan", "--json")

    # Then the scan says the row was unreadable, that its user is not managed, and exits 2
    printed = capsys.readouterr()
    assert code == 2
    assert "1 credential report row(s) could not be read" in printed.err
    assert "not in the credential report as read" in printed.err
