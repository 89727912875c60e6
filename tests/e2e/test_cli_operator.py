"""The operator's side of the CLI (issue 8): the read-only policy in docs/operator-policy.json is exactly what
`plan` and `report` need, errors say what to do, long scans draw progress bars on stderr only, and every
command's `--help` documents its exit codes.

The policy is proven against moto's IAM policy enforcement (`moto.core.enable_iam_authentication`, the
context-manager form of `set_initial_no_auth_action_count(0)`): the CLI runs in-process with the access key
of an IAM user that has only the policy attached. What that enforcement cannot check, and how the tests
deal with it:

- `sts:GetCallerIdentity` is always allowed by moto (as by AWS: it needs no permission), so dropping it
  proves nothing and is not tried.
- Every IAM and DynamoDB request is checked against the resource "*" (moto does not work out the table
  ARN), so the copy of the policy given to moto widens the table-scoped `Resource` of the DynamoDB statement
  to "*". The actions, the thing under test, are unchanged.
- `kms:Decrypt` (through DynamoDB only, for the stack's customer-managed table key) is never requested:
  moto's DynamoDB has no KMS behind it. It is documented in docs/operator.md and left out of the checks.
- `iam:ListServiceSpecificCredentials` is not implemented by moto 5.2 (NotImplementedError), so the
  settings here leave service-specific credentials off; tests/integration/test_credentials.py covers the
  listing itself with botocore's stubber.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from moto.core import enable_iam_authentication
from moto.iam.models import iam_backends

from credlife.aws import inventory
from credlife.aws.factory import build_runtime
from credlife.aws.state_store import create_state_table
from credlife.cli import main
from credlife.config import load_settings
from credlife.progress import ProgressBar, wanted
from tests.e2e.conftest import ACCOUNT, Account, failing

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
POLICY_FILE = Path(__file__).resolve().parents[2] / "docs" / "operator-policy.json"
#: The policy's default table name (docs/operator.md says to change both together).
TABLE = "credlife-state"
#: Actions moto cannot enforce (see the module docstring).
NOT_ENFORCED_BY_MOTO = frozenset(
    {"sts:GetCallerIdentity", "kms:Decrypt", "iam:ListServiceSpecificCredentials"}
)
#: Actions in the policy a scan under moto never calls (see the module docstring).
NEVER_CALLED_UNDER_MOTO = frozenset({"kms:Decrypt", "iam:ListServiceSpecificCredentials"})
#: Verbs of IAM/DynamoDB actions that change something.
MUTATING_VERBS = (
    "Create",
    "Delete",
    "Update",
    "Put",
    "Attach",
    "Detach",
    "Enable",
    "Deactivate",
    "Add",
    "Remove",
    "Set",
    "Tag",
    "Untag",
    "Upload",
    "Change",
    "Reset",
    "Resync",
    "BatchWrite",
    "TransactWrite",
    "Generate",
)
#: The one action of that kind plan and report need: it only (re)builds IAM's credential report.
ALLOWED_GENERATE = "iam:GenerateCredentialReport"


def run(*argv: str) -> int:
    with time_machine.travel(NOW, tick=False):
        return main(list(argv))


def policy_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(POLICY_FILE.read_text(encoding="utf-8"))
    return document


def statement_actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def policy_actions(document: dict[str, Any]) -> set[str]:
    return {action for statement in document["Statement"] for action in statement_actions(statement)}


def without(document: dict[str, Any], action: str) -> dict[str, Any]:
    """A copy of the policy missing `action` (a statement left with no action is dropped)."""
    changed = copy.deepcopy(document)
    statements = []
    for statement in changed["Statement"]:
        remaining = [a for a in statement_actions(statement) if a != action]
        if remaining:
            statements.append({**statement, "Action": remaining})
    changed["Statement"] = statements
    return changed


def for_moto(document: dict[str, Any]) -> dict[str, Any]:
    """moto checks every IAM and DynamoDB request against the resource "*": widen resources to match."""
    widened = copy.deepcopy(document)
    for statement in widened["Statement"]:
        statement["Resource"] = "*"
    return widened


def is_mutating(action: str) -> bool:
    operation = action.split(":", 1)[1]
    return action != ALLOWED_GENERATE and operation.startswith(MUTATING_VERBS)


def json_lines(text: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all(isinstance(row, dict) for row in rows)
    return rows


# -- the account every operator test scans ----------------------------------------------------------------


@pytest.fixture
def scanned(aws: Account, tmp_path: Path) -> str:
    """An account where a full scan calls every action of the policy: an aged key in use (ListAccessKeys),
    a console password never used (GetLoginProfile), a young key; the state table with the policy's
    default name; settings enabling the per-user listings of SSH keys and signing certificates (moto has no
    service-specific credentials). Returns the settings file."""
    for name, age in (("ana.aged", 120), ("eli.young", 10)):
        aws.user(name, now=NOW)
        aws.key(name, now=NOW, age=age, used_ago=1)
    aws.user("cat.console", now=NOW)
    aws.iam.create_login_profile(
        UserName="cat.console", Password="Correct-Horse-42!", PasswordResetRequired=True
    )
    create_state_table(aws.dynamodb, TABLE)
    config = tmp_path / "operator.json"
    config.write_text(
        json.dumps(
            {
                "state_table": TABLE,
                "policy": {
                    "ssh_keys_enabled": True,
                    "signing_certificates_enabled": True,
                },
            }
        ),
        encoding="utf-8",
    )
    return str(config)


@pytest.fixture
def as_operator(aws: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`as_operator(document)`: an IAM user with only `document` attached; the environment's credentials
    become its access key and moto enforces IAM policies from then on (until the test ends)."""
    with ExitStack() as stack:

        def become(document: dict[str, Any]) -> None:
            with time_machine.travel(NOW - timedelta(days=1), tick=False):
                aws.iam.create_user(UserName="operator", Path="/operators/")
                arn = aws.iam.create_policy(
                    PolicyName="credlife-operator", PolicyDocument=json.dumps(for_moto(document))
                )["Policy"]["Arn"]
                aws.iam.attach_user_policy(UserName="operator", PolicyArn=arn)
                key = aws.iam.create_access_key(UserName="operator")["AccessKey"]
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
            monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
            stack.enter_context(enable_iam_authentication())

        yield become


# -- 1. the read-only operator policy ---------------------------------------------------------------------


def test_operator_policy_is_valid_read_only_and_lists_what_the_inventory_declares() -> None:
    # Given the policy document shipped in docs/
    document = policy_document()
    actions = policy_actions(document)

    # Then it is an IAM policy of Allow statements with unique Sids ...
    assert document["Version"] == "2012-10-17"
    assert all(s["Effect"] == "Allow" for s in document["Statement"])
    sids = [s["Sid"] for s in document["Statement"]]
    assert len(sids) == len(set(sids))
    # ... that grants nothing mutating (GenerateCredentialReport only rebuilds IAM's report) and no wildcard
    assert [a for a in actions if is_mutating(a)] == []
    assert not any("*" in a for a in actions)
    # ... and names exactly what the inventory declares, plus reading the state table (and its key)
    assert actions == set(inventory.REQUIRED_ACTIONS) | {"dynamodb:Query", "kms:Decrypt"}
    (table,) = [s for s in document["Statement"] if "dynamodb:Query" in statement_actions(s)]
    assert table["Resource"].endswith(f":table/{TABLE}")
    (key,) = [s for s in document["Statement"] if "kms:Decrypt" in statement_actions(s)]
    assert key["Condition"] == {"StringLike": {"kms:ViaService": "dynamodb.*.amazonaws.com"}}


def test_plan_and_report_make_exactly_the_policy_calls_and_none_mutating(aws: Account, scanned: str) -> None:
    # Given the account and settings every operator test scans
    settings = load_settings(scanned)
    runtime = build_runtime(settings)

    # When the read paths of plan and report run (the plan with its snapshot, then the audit log)
    with time_machine.travel(NOW, tick=False):
        summary, _, _ = runtime.service.plan_with_snapshot(datetime.now(UTC), allow_missing_state=True)
        runtime.state.audit_log(summary.account_id)
    called = set(runtime.counter.snapshot())

    # Then every action they called is in the policy, none changes anything, and the policy holds no action
    # they did not call (but the two a scan under moto cannot reach)
    assert summary.failures == []
    assert [a for a in called if is_mutating(a)] == []
    assert called <= policy_actions(policy_document())
    assert called == policy_actions(policy_document()) - NEVER_CALLED_UNDER_MOTO


def test_plan_and_report_succeed_with_only_the_operator_policy(
    aws: Account,
    scanned: str,
    as_operator: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an operator whose only permissions are the read-only policy, moto enforcing them
    as_operator(policy_document())

    # When the operator plans and writes the report
    plan_code = run("plan", "--json", "--config", scanned)
    plan_out = capsys.readouterr()
    report_code = run("report", "--out", str(tmp_path / "out"), "--config", scanned)
    report_out = capsys.readouterr()

    # Then both succeed (exit 1: there are findings) with nothing refused or skipped
    assert plan_code == 1, plan_out.err
    assert plan_out.err == ""
    rows = json_lines(plan_out.out)
    assert ("ana.aged", "rotate") in {(r["user"], r["action"]) for r in rows}
    assert any(r["user"] == "cat.console" for r in rows)
    assert report_code == 1, report_out.err
    assert report_out.err == ""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "report.csv",
        "report.html",
        "report.json",
    ]


ENFORCED = sorted(policy_actions(policy_document()) - NOT_ENFORCED_BY_MOTO)


@pytest.mark.parametrize("missing", ENFORCED)
def test_plan_without_one_policy_action_exits_2_naming_it(
    aws: Account,
    scanned: str,
    as_operator: Any,
    capsys: pytest.CaptureFixture[str],
    missing: str,
) -> None:
    # Given an operator whose policy lacks one action
    as_operator(without(policy_document(), missing))

    # When the operator plans
    code = run("plan", "--json", "--config", scanned)

    # Then it exits 2 naming the refused action and the policy to use, without a stack trace
    printed = capsys.readouterr()
    assert code == 2, printed.err
    assert f"not authorized to perform {missing}" in printed.err
    assert "docs/operator-policy.json" in printed.err
    assert "Traceback" not in printed.err
    assert "<?xml" not in printed.err  # moto's DynamoDB answers a refusal with an XML body


@pytest.mark.parametrize(
    "missing", ["iam:GetAccountAuthorizationDetails", "iam:ListAccessKeys", "dynamodb:Query"]
)
def test_report_without_one_policy_action_exits_2_naming_it(
    aws: Account,
    scanned: str,
    as_operator: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    missing: str,
) -> None:
    # Given an operator whose policy lacks one action
    as_operator(without(policy_document(), missing))

    # When the operator writes the report
    code = run("report", "--out", str(tmp_path / "out"), "--config", scanned)

    # Then it exits 2 and the one line about it names the action as service:Operation
    printed = capsys.readouterr()
    assert code == 2
    (line,) = [line for line in printed.err.splitlines() if "not authorized" in line]
    assert line.startswith("credlife: access denied: the caller is not authorized to perform ")
    assert f"perform {missing}" in line
    assert line.endswith("read-only operator policy docs/operator-policy.json (see docs/operator.md)")


def test_apply_with_the_operator_policy_is_refused_and_points_elsewhere(
    aws: Account, scanned: str, as_operator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an operator with only the read-only policy
    as_operator(policy_document())

    # When the operator tries apply (even in dry-run it records notices in the state table)
    code = run("apply", "--config", scanned)

    # Then it fails, naming the write the policy does not grant and what apply needs instead
    printed = capsys.readouterr()
    assert code == 2
    assert "not authorized to perform: dynamodb:PutItem" in printed.err
    assert printed.err.splitlines()[-1] == (
        "credlife: access denied: apply changes IAM and needs the automation's permissions (the lifecycle "
        "function's role); the read-only operator policy docs/operator-policy.json (see docs/operator.md) "
        "covers only plan and report"
    )
    assert len(iam_backends[ACCOUNT]["global"].users["ana.aged"].access_keys) == 1


# -- 2. errors a user sees ----------------------------------------------------------------------------------


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr("time.sleep", recorded.append)
    return recorded


def test_throttling_beyond_the_retry_budget_exits_2_saying_try_later(
    aws: Account, scanned: str, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given IAM throttles every GetAccountAuthorizationDetails (moto never throttles: injected)
    with failing("GetAccountAuthorizationDetails", "Throttling") as failed:
        # When the operator plans
        code = run("plan", "--config", scanned)

    # Then the scan backed off and retried to the end of its budget, and the one line says so
    printed = capsys.readouterr()
    assert len(failed) == 10  # the inventory's max_attempts
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert code == 2
    assert printed.out == ""
    # (the retries are shown as they start: one line here, where the recorded sleeps take no time)
    retrying, *rest = printed.err.splitlines()
    assert retrying.startswith(
        "credlife: AWS is throttling iam:GetAccountAuthorizationDetails: retrying in 1 s (1 retries so far; "
        "giving up in "
    )
    assert rest == [
        "credlife: AWS throttled iam:GetAccountAuthorizationDetails beyond the retry budget (every retry "
        "with back-off was used up); try again in a few minutes, when fewer IAM calls are running in the "
        "account",
    ]


def test_expired_credentials_are_named_with_what_to_do(
    aws: Account, scanned: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the STS session behind the profile has expired (moto cannot expire a session: injected)
    with failing("GetCallerIdentity", "ExpiredToken"):
        code = run("plan", "--config", scanned)

    # Then the message says the credentials were rejected and how to refresh them
    printed = capsys.readouterr()
    assert code == 2
    assert printed.err.strip() == (
        "credlife: AWS rejected the credentials (ExpiredToken): refresh them (`aws sso login`, or a new "
        "key) and check AWS_PROFILE"
    )


# -- 3. progress bars ---------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_forced_progress_draws_on_stderr_and_plan_json_stays_clean(
    aws: Account, scanned: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given stderr is no terminal (pytest's capture), and the operator forces progress bars
    # When the operator plans with --json
    code = run("plan", "--json", "--progress", "--config", scanned)

    # Then stderr shows each stage with its counts, each line ended; stdout is JSON lines only
    printed = capsys.readouterr()
    assert code == 1
    assert "credentials" in printed.err
    assert "3/3 100%" in printed.err  # ana.aged, eli.young, cat.console
    assert "access keys" in printed.err
    assert "1/1 100%" in printed.err  # only ana.aged needs its key ids
    assert printed.err.endswith("\n")
    assert "[" not in printed.out
    assert "\r" not in printed.out
    rows = json_lines(printed.out)
    assert {r["user"] for r in rows} >= {"ana.aged", "cat.console"}


def test_progress_is_drawn_on_a_terminal_by_default_and_never_into_a_pipe(
    aws: Account, scanned: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given stderr is not a terminal: plan draws nothing
    assert run("plan", "--json", "--config", scanned) == 1
    assert capsys.readouterr().err == ""

    # Given stderr is a terminal: plan draws bars, unless told --no-progress
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert run("plan", "--json", "--config", scanned) == 1
    drawn = terminal.getvalue()
    assert "credentials" in drawn
    assert "\r" in drawn
    quiet = Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    assert run("plan", "--json", "--no-progress", "--config", scanned) == 1
    assert quiet.getvalue() == ""


def test_progress_bar_redraws_at_most_every_interval_and_ends_its_lines() -> None:
    # Given a bar on a fake clock redrawing at most every 0.1 s
    clock = [0.0]
    stream = io.StringIO()
    bar = ProgressBar(stream, width=10, min_interval=0.1, clock=lambda: clock[0])

    # When 1,000 updates arrive within 0.05 s, then one more after 0.2 s, then the stage completes
    for done in range(1000):
        bar("credentials", done, 2000)
        clock[0] += 0.00005
    clock[0] += 0.2
    bar("credentials", 1500, 2000)
    bar("credentials", 1501, 2000)  # too soon: skipped
    bar("credentials", 2000, 2000)  # the last update of a stage is always drawn
    bar("access keys", 0, 3)
    bar.close()

    # Then only the first, the late and the final update were drawn, each stage's line ended once
    assert bar.draws == 4
    text = stream.getvalue()
    assert text == (
        "\rcredentials  [----------] 0/2000   0%"
        "\rcredentials  [########--] 1500/2000  75%"
        "\rcredentials  [##########] 2000/2000 100%\n"
        "\raccess keys  [----------] 0/3   0%\n"
    )
    assert wanted(Terminal(), None) is True
    assert wanted(io.StringIO(), None) is False
    assert wanted(io.StringIO(), True) is True
    assert wanted(Terminal(), False) is False


# -- 4. help -------------------------------------------------------------------------------------------------

COMMANDS = {
    "plan": ["exit codes", "docs/operator-policy.json", "--progress"],
    "report": ["exit codes", "docs/operator-policy.json", "--progress", "--out"],
    "apply": ["exit codes", "dry_run"],
    "rotate-now": ["exit codes", "USER"],
    "demo": ["exit codes", "--days"],
    "replay": ["exit codes", "PATH"],
}


@pytest.mark.parametrize(("command", "mentions"), list(COMMANDS.items()), ids=list(COMMANDS))
def test_every_command_has_help_with_its_exit_codes(
    command: str, mentions: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # When the operator asks for a command's help
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])

    # Then it exits 0 and documents the command and its exit codes
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert out.startswith(f"usage: credlife {command}")
    for mention in mentions:
        assert mention in out


def test_top_level_help_lists_commands_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])

    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert all(command in out for command in COMMANDS)
    codes = out[out.index("exit codes:") :]
    assert "0  nothing to do" in codes
    assert "1  findings or actions" in codes
    assert "2  error" in codes
