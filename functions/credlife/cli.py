"""`credlife`: the operator's command line. `plan` and `report` (read-only), `apply`, `demo` (in-process
moto), and `replay` (sign-in and IAM events through the risk rules, offline).

Exit codes: 0 nothing to do, 1 findings or actions, 2 error. Every command takes `--config FILE` (JSON or
YAML, the same settings schema as the Lambda functions)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from credlife.config import ConfigError, Settings, load_settings
from credlife.domain.actions import Action
from credlife.lifecycle import count_changes, is_finding

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, sys.stdout))
    except ConfigError as error:
        print(f"credlife: {error}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:  # the message a user sees: what failed, never a stack trace or a secret
        print(f"credlife: {_explain(error)}", file=sys.stderr)
        return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="settings file (JSON or YAML)")
    parser = argparse.ArgumentParser(
        prog="credlife",
        description="Lifecycle automation for IAM credentials. Exit codes: 0 nothing to do, "
        "1 findings or actions, 2 error.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser(
        "plan",
        parents=[common],
        help="read-only: list what is due now in the account boto3 points at",
        description="Inventory the account that boto3's normal resolution points at (AWS_PROFILE, "
        "AWS_REGION, AWS_ENDPOINT_URL) and print the planned actions. Changes nothing.",
    )
    plan.add_argument("--json", action="store_true", help="one JSON object per line")
    plan.add_argument("--user", help="only this IAM user")
    plan.set_defaults(func=_plan)

    apply = commands.add_parser(
        "apply",
        parents=[common],
        help="plan and execute (dry-run from the settings is respected)",
        description="The same as plan, then executed. With dry_run on (the default) nothing changes.",
    )
    apply.add_argument("--json", action="store_true", help="one JSON object per outcome")
    apply.add_argument("--user", help="only this IAM user")
    apply.set_defaults(func=_apply)

    report = commands.add_parser(
        "report",
        parents=[common],
        help="read-only: write report.html, report.csv and report.json for the account",
        description="The same inventory and plan as `plan` (changes nothing), written to DIR as "
        "report.html (one self-contained page: charts and a table per user, no network needed to view), "
        "report.csv and report.json (one row per credential, with reason codes and CIS / Security Hub "
        "controls, and a control summary). Actions taken come from the state table's audit log when it "
        "exists. Exit codes as for plan.",
    )
    report.add_argument("--out", required=True, metavar="DIR", help="folder for the three files")
    report.set_defaults(func=_report)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="the whole access-key lifecycle, day 0 to 150, against an in-process moto account",
        description="Seeds an in-process moto account with ~25 users covering every access-key case, "
        "walks the clock through the lifecycle running the real scheduled handler at each step, and "
        "prints a timeline per user and a summary. Needs no AWS account and no network.",
    )
    demo.add_argument("--days", type=int, default=150, help="how far to walk the clock (default 150)")
    demo.add_argument("--step", type=int, default=1, help="days between runs (default 1)")
    demo.set_defaults(func=_demo)

    rotate_now = commands.add_parser(
        "rotate-now",
        parents=[common],
        help="rotate one user's access key now (exemptions, the two-key quota and dry-run respected)",
        description="The same as the `Rotate Access Key Now` EventBridge event: runs the lifecycle for "
        "USER with an immediate rotation requested. Exit 0 rotated (or would, in dry-run), 1 not rotated "
        "(exempt, quota, nothing to rotate, unknown user), 2 error.",
    )
    rotate_now.add_argument("user", metavar="USER", help="the IAM user name")
    rotate_now.add_argument("--requested-by", default=None, help="who asks (default: the local login name)")
    rotate_now.add_argument("--json", action="store_true", help="print the result as one JSON object")
    rotate_now.set_defaults(func=_rotate_now)

    replay = commands.add_parser(
        "replay",
        parents=[common],
        help="judge exported sign-in and IAM events with the risk rules (no AWS calls)",
        description="Read EventBridge events, bare CloudTrail records or CloudTrail log files (gzip too), "
        "files or folders in order, through the event monitor's rules with one in-memory state and each "
        "event's own eventTime as the clock. Prints one JSON object per event (file, index, event_id, "
        "risky, severity, reasons). The `risk` section of --config sets the thresholds.",
    )
    replay.add_argument("paths", nargs="+", metavar="PATH", help="event files or folders")
    replay.set_defaults(func=_replay)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def _plan(args: argparse.Namespace, out: TextIO) -> int:
    from credlife.aws.factory import build_runtime

    runtime = build_runtime(_settings(args))
    summary, _ = runtime.service.plan(datetime.now(UTC), only_user=args.user, allow_missing_state=True)
    _print_actions(summary.actions, out, as_json=args.json)
    for failure in summary.failures:
        print(f"credlife: {failure}", file=sys.stderr)
    if not args.json:
        print(
            f"\n{len(summary.actions)} row(s) for {summary.users} user(s) in account {summary.account_id}"
            f"{' (dry-run policy)' if summary.dry_run else ''}; {sum(summary.api_calls.values())} API calls",
            file=out,
        )
    return _exit_code(summary.actions, summary.failures)


def _report(args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    from credlife.aws.errors import NotFound
    from credlife.aws.factory import build_runtime
    from credlife.report import build_report, write_report

    settings = _settings(args)
    runtime = build_runtime(settings)
    now = datetime.now(UTC)
    summary, snapshot, resolved = runtime.service.plan_with_snapshot(now, allow_missing_state=True)
    try:
        audit = runtime.state.audit_log(summary.account_id)
    except NotFound:  # no state table yet: no actions were ever taken
        audit = None
    report = build_report(
        account_id=summary.account_id,
        now=now,
        dry_run=summary.dry_run,
        actions=summary.actions,
        users=[resolved.get(u.name, u) for u in snapshot.users],
        audit=audit,
        unused_after_days=runtime.service.policy.unused_after_days,
    )
    written = write_report(report, Path(args.out))
    for failure in summary.failures:
        print(f"credlife: {failure}", file=sys.stderr)
    print(
        f"{len(report.rows)} credential row(s) for {summary.users} user(s) in account {summary.account_id}: "
        + ", ".join(str(path) for path in written.values()),
        file=out,
    )
    return _exit_code(summary.actions, summary.failures)


def _apply(args: argparse.Namespace, out: TextIO) -> int:
    from credlife.aws.factory import build_runtime

    runtime = build_runtime(_settings(args))
    summary = runtime.service.run(datetime.now(UTC), only_user=args.user)
    for outcome in summary.outcomes:
        row = {**outcome.action.as_row(), "outcome": outcome.status, "outcome_detail": outcome.detail}
        if outcome.new_key_id:
            row["new_key_id"] = outcome.new_key_id
            row["secret_name"] = outcome.secret_name
        if args.json:
            print(json.dumps(row, sort_keys=True), file=out)
        else:
            print(
                _line(outcome.action)
                + f"  → {outcome.status}{' ' + outcome.detail if outcome.detail else ''}",
                file=out,
            )
    if not args.json:
        print(f"\noutcomes: {count_changes(summary) or 'none'}", file=out)
    for failure in summary.failures:
        print(f"credlife: {failure}", file=sys.stderr)
    return _exit_code(summary.actions, summary.failures)


def _rotate_now(args: argparse.Namespace, out: TextIO) -> int:
    import getpass

    from credlife.aws.factory import build_runtime
    from credlife.handlers.rotate_now import rotate_now_result

    requested_by = args.requested_by or f"cli:{getpass.getuser()}"
    runtime = build_runtime(_settings(args))
    summary = runtime.service.run(
        datetime.now(UTC), only_user=args.user, rotate_now={args.user: requested_by}
    )
    result = rotate_now_result(summary, args.user)
    if args.json:
        print(json.dumps(result, sort_keys=True), file=out)
    else:
        where = (
            f": new key {result['new_key_id']} in secret {result['secret_name']}"
            if result["new_key_id"]
            else ""
        )
        print(f"{args.user}: {result['status']}{where}", file=out)
    for failure in summary.failures:
        print(f"credlife: {failure}", file=sys.stderr)
    if result["status"] == "failed":
        return EXIT_ERROR
    return EXIT_CLEAN if result["status"] in {"rotated", "would_rotate"} else EXIT_FINDINGS


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    from credlife.demo import run_demo

    return run_demo(out, days=args.days, step=args.step, config=args.config)


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    from credlife.replay import replay

    risky = False
    try:
        for row in replay(args.paths, policy=_settings(args).risk):
            risky = risky or bool(row["risky"])
            print(json.dumps(row, sort_keys=True), file=out)
    except FileNotFoundError as error:
        print(f"credlife: {error}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_FINDINGS if risky else EXIT_CLEAN


def _print_actions(actions: Sequence[Action], out: TextIO, *, as_json: bool) -> None:
    for action in actions:
        if as_json:
            print(json.dumps(action.as_row(), sort_keys=True), file=out)
        else:
            print(_line(action), file=out)


def _line(a: Action) -> str:
    what = f"{a.action.value}({a.warns_of.value}, {a.stage})" if a.warns_of else a.action.value
    when = f"deadline {a.deadline:%Y-%m-%d %H:%M}Z" if a.deadline else f"due {a.due:%Y-%m-%d}"
    return f"{a.user:<28} {a.key_id or '-':<22} {what:<24} {a.reason.value:<22} {when}  {a.detail}"


def _exit_code(actions: Sequence[Action], failures: Sequence[str]) -> int:
    if failures:
        return EXIT_ERROR
    return EXIT_FINDINGS if any(is_finding(a) for a in actions) else EXIT_CLEAN


def _explain(error: Exception) -> str:
    from botocore.exceptions import NoCredentialsError, NoRegionError

    from credlife.aws.errors import AccessDenied, AwsError, Throttled

    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found: set AWS_PROFILE (or run `aws configure` / `aws sso login`)"
    if isinstance(error, NoRegionError):
        return "no AWS region set: set AWS_REGION or AWS_DEFAULT_REGION"
    if isinstance(error, AccessDenied):
        return f"access denied calling {error.operation}: the caller needs that permission ({error})"
    if isinstance(error, Throttled):
        return f"AWS throttled {error.operation} beyond the retry budget; try again later"
    if isinstance(error, AwsError):
        return str(error)
    return f"{type(error).__name__}: {error}"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
