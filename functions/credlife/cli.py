"""`credlife`: the operator's command line. `plan` and `report` (read-only), `apply`, `demo` (in-process
moto), and `replay` (sign-in and IAM events through the risk rules, offline).

Exit codes: 0 nothing to do, 1 findings or actions, 2 error. Every command takes `--config FILE` (JSON or
YAML, the same settings schema as the Lambda functions).

Errors are one line on stderr saying what failed and what to do: a refused call names the IAM action it
needed (`iam:ListAccessKeys`) and the read-only operator policy (docs/operator-policy.json), throttling
beyond the retry budget says to try again later. `plan` and `report` draw progress bars on stderr when it
is a terminal (`--progress` / `--no-progress` force it); stdout carries only the command's output."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from credlife.config import ConfigError, Settings, load_settings
from credlife.domain.actions import Action
from credlife.lifecycle import count_changes, is_finding
from credlife.progress import DeadlineExceeded, deadline

if TYPE_CHECKING:
    from credlife.aws.factory import Runtime
    from credlife.progress import ProgressBar

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
#: Ctrl-C (the shell's convention: 128 + SIGINT).
EXIT_INTERRUPTED = 130

#: Where an operator finds the least-privilege policy for the read-only commands.
OPERATOR_POLICY = "docs/operator-policy.json (see docs/operator.md)"
#: The commands that only read (the operator policy covers exactly these).
READ_ONLY_COMMANDS = frozenset({"plan", "report"})

_EXIT_CODES = """exit codes:
  0  nothing to do: no findings, nothing due
  1  findings or actions: something is due (or was done)
  2  error: bad settings, no credentials, access denied, throttled beyond the
     retry budget, or a scan left incomplete (one line on stderr says which)"""
_SCAN_EXIT_CODES = (
    "exit codes: 0 nothing due, 1 findings, 2 error (bad settings, no credentials, access denied - the "
    f"message names the IAM action and the read-only policy {OPERATOR_POLICY} - throttled beyond the retry "
    "budget, or a scan a refused call left incomplete)"
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _settle_global_options(parser, args)
    out = sys.stdout
    console = _ConsoleLog(sys.stderr, timeout=args.timeout)
    logger = logging.getLogger("credlife")
    logger.addHandler(console)
    args.console = console
    try:
        with _logs_to_stderr(out), deadline(args.timeout):
            return int(args.func(args, out))
    except KeyboardInterrupt:
        console.end_progress()
        print("credlife: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except DeadlineExceeded as expired:
        console.end_progress()
        waiting = f": AWS kept throttling {console.throttled}" if console.throttled else ""
        print(
            f"credlife: gave up after {expired.seconds:g} s (--timeout){waiting}; try again later or allow "
            "more time with --timeout SECONDS",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except (UsageError, ConfigError) as error:
        print(f"credlife: {error}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:  # the message a user sees: what failed, never a stack trace or a secret
        print(f"credlife: {_explain(error, args.command)}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        logger.removeHandler(console)


class UsageError(ValueError):
    """The command line names something that does not exist (a user, a profile): exit 2."""


#: Commands that print JSON with `--json`.
JSON_COMMANDS = frozenset({"plan", "apply", "rotate-now"})
#: Commands that call AWS: they get a total deadline by default.
AWS_COMMANDS = frozenset({"plan", "report", "apply", "rotate-now"})
#: Seconds an AWS command may take in all, retries included, unless `--timeout` says otherwise.
DEFAULT_TIMEOUT_S = 300.0


def _global_options() -> argparse.ArgumentParser:
    """The options every command takes, before or after its name. Their defaults are filled in after
    parsing (`_settle_global_options`): a default set by the subcommand's parser would overwrite a value
    given before the subcommand (argparse copies the subcommand's namespace over the top-level one), which
    once made `credlife --config FILE plan` run with the defaults."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="settings file (JSON or YAML; docs/settings.md); a file that is missing or invalid is an error",
    )
    options.add_argument(
        "--region",
        default=argparse.SUPPRESS,
        help="AWS region (else: the settings' region, AWS_REGION, AWS_DEFAULT_REGION, the profile's)",
    )
    options.add_argument("--profile", default=argparse.SUPPRESS, help="AWS profile (else AWS_PROFILE)")
    options.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=argparse.SUPPRESS,
        help=f"give up after this long in all, retries included (default {DEFAULT_TIMEOUT_S:g} for commands "
        "that call AWS; 0: no limit)",
    )
    return options


def _json_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=help_text)


def _settle_global_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Defaults for the global options given neither before nor after the subcommand; `--json` before a
    command that has no JSON output is a usage error (exit 2), never silently ignored."""
    for name in ("config", "region", "profile"):
        if not hasattr(args, name):
            setattr(args, name, None)
    if not hasattr(args, "timeout"):
        args.timeout = DEFAULT_TIMEOUT_S if args.command in AWS_COMMANDS else None
    if args.timeout is not None and args.timeout < 0:
        parser.error("--timeout must be 0 (no limit) or more seconds")
    if getattr(args, "json", False) and args.command not in JSON_COMMANDS:
        parser.error(f"--json does not apply to {args.command} (only to {', '.join(sorted(JSON_COMMANDS))})")
    if not hasattr(args, "json"):
        args.json = False


def _parser() -> argparse.ArgumentParser:
    common = _global_options()
    progress = argparse.ArgumentParser(add_help=False)
    progress.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars on stderr (default: only when stderr is a terminal)",
    )
    progress.add_argument(
        "--advice",
        action="store_true",
        help="include best-practice advice rows (as with policy.advice_enabled: true); never a finding",
    )
    parser = argparse.ArgumentParser(
        prog="credlife",
        description="Lifecycle automation for IAM credentials.\n\nplan and report only read; the "
        "least-privilege policy for them is\ndocs/operator-policy.json (see docs/operator.md). apply and "
        "rotate-now change IAM.",
        epilog=_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    _json_option(parser, "JSON output (plan, apply, rotate-now); may also follow the command")
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser(
        "plan",
        parents=[common, progress],
        help="read-only: list what is due now in the account boto3 points at",
        description="Inventory the account that boto3's normal resolution points at (AWS_PROFILE, "
        "AWS_REGION, AWS_ENDPOINT_URL) and print the planned actions. Changes nothing. Needs only the "
        f"read-only operator policy {OPERATOR_POLICY}.",
        epilog=_SCAN_EXIT_CODES,
    )
    _json_option(plan, "one JSON object per line")
    plan.add_argument("--user", help="only this IAM user")
    plan.set_defaults(func=_plan)

    apply = commands.add_parser(
        "apply",
        parents=[common],
        help="plan and execute (dry-run from the settings is respected)",
        description="The same as plan, then executed. With dry_run on (the default) nothing changes. "
        "Needs the automation's permissions (those of the deployed lifecycle function's role), not the "
        "read-only operator policy.",
        epilog="exit codes: 0 nothing due, 1 actions planned or taken, 2 error (including an action that "
        "failed)",
    )
    _json_option(apply, "one JSON object per outcome")
    apply.add_argument("--user", help="only this IAM user")
    apply.set_defaults(func=_apply)

    report = commands.add_parser(
        "report",
        parents=[common, progress],
        help="read-only: write report.html, report.csv and report.json for the account",
        description="The same inventory and plan as `plan` (changes nothing), written to DIR as "
        "report.html (one self-contained page: charts and a table per user, no network needed to view), "
        "report.csv and report.json (one row per credential, with reason codes and CIS / Security Hub "
        "controls, and a control summary). Actions taken come from the state table's audit log when it "
        f"exists. Needs only the read-only operator policy {OPERATOR_POLICY}.",
        epilog=_SCAN_EXIT_CODES,
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
        epilog="exit codes: 0 the demo ran, 2 error",
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
        "(exempt, quota, nothing to rotate), 2 error (an unknown user too).",
        epilog="exit codes: 0 rotated (or would be, in dry-run), 1 not rotated, 2 error or unknown user",
    )
    rotate_now.add_argument("user", metavar="USER", help="the IAM user name")
    rotate_now.add_argument("--requested-by", default=None, help="who asks (default: the local login name)")
    _json_option(rotate_now, "print the result as one JSON object")
    rotate_now.set_defaults(func=_rotate_now)

    replay = commands.add_parser(
        "replay",
        parents=[common],
        help="judge exported sign-in and IAM events with the risk rules (no AWS calls)",
        description="Read EventBridge events, bare CloudTrail records or CloudTrail log files (gzip too), "
        "files or folders in order, through the event monitor's rules with one in-memory state and each "
        "event's own eventTime as the clock. Prints one JSON object per event (file, index, event_id, "
        "risky, severity, reasons). The `risk` section of --config sets the thresholds.",
        epilog="exit codes: 0 no risky event, 1 at least one risky event, 2 error (e.g. a path not found)",
    )
    replay.add_argument("paths", nargs="+", metavar="PATH", help="event files or folders")
    replay.set_defaults(func=_replay)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    if getattr(args, "advice", False):
        policy = settings.policy.model_copy(update={"advice_enabled": True})
        settings = settings.model_copy(update={"policy": policy})
    return settings


def resolve_region(
    explicit: str | None,
    configured: str | None,
    environ: Mapping[str, str],
    profile_region: str | None,
) -> tuple[str | None, str]:
    """The region an AWS command acts in, and where it came from: `--region`, the settings' `region`,
    AWS_REGION, AWS_DEFAULT_REGION, then the profile's configured region. (botocore reads only
    AWS_DEFAULT_REGION and the profile: with AWS_REGION alone, or a profile in another region, it would
    read another region's state table.)"""
    for value, source in (
        (explicit, "--region"),
        (configured, "settings region"),
        (environ.get("AWS_REGION"), "AWS_REGION"),
        (environ.get("AWS_DEFAULT_REGION"), "AWS_DEFAULT_REGION"),
        (profile_region, "profile"),
    ):
        if value:
            return value, source
    return None, "none"


def _runtime(args: argparse.Namespace, settings: Settings | None = None) -> Runtime:
    """The runtime for the account and region the command line, the settings and the environment name."""
    import boto3
    import botocore.session

    from credlife.aws.factory import build_runtime

    settings = settings or _settings(args)
    profile_region = botocore.session.Session(profile=args.profile).get_scoped_config().get("region")
    region, source = resolve_region(args.region, settings.region, os.environ, profile_region)
    args.where = f"region {region} from {source}" if region else "no region"
    session = boto3.Session(profile_name=args.profile, region_name=region)
    args.console.where = f"table {settings.state_table}, {args.where}"
    return build_runtime(settings, session)


def _check_user(args: argparse.Namespace, users: int, account_id: str) -> None:
    """`--user NAME` that names nobody is a mistake to say, not an empty plan (exit 2)."""
    if getattr(args, "user", None) and users == 0:
        raise UsageError(f"no IAM user named {args.user!r} in account {account_id}")


def _unreadable(runtime: Runtime) -> list[str]:
    """Rows of the credential report that could not be read even with the ARN's help: the scan missed
    their users, so the command says so and exits 2 (never a silently smaller account)."""
    report = runtime.inventory.last_report
    if report is None or not report.rejected:
        return []
    return [
        f"{report.rejected} credential report row(s) could not be read (the warnings give their line "
        "numbers): those users' credentials are not managed by this run"
    ]


def _missing_table(args: argparse.Namespace, runtime: Runtime, error: Exception) -> UsageError | None:
    """A state table that is not there, for a command that changes IAM: an error (never a first run: the
    notices already sent would be forgotten and every clock restarted)."""
    from credlife.aws.errors import NotFound

    if isinstance(error, NotFound) and (error.action or "").startswith("dynamodb:"):
        return UsageError(
            f"state table {runtime.settings.state_table} not found ({args.where}): {args.command} needs the "
            "deployed stack's table; check --region / AWS_REGION / --profile and the settings' state_table"
        )
    return None


def _plan(args: argparse.Namespace, out: TextIO) -> int:
    runtime = _runtime(args)
    with _scan(args, runtime) as scan:
        summary, _ = runtime.service.plan(datetime.now(UTC), only_user=args.user, allow_missing_state=True)
    _check_user(args, summary.users, summary.account_id)
    _print_actions(summary.actions, out, as_json=args.json)
    failures = [*summary.failures, *scan.refusals(), *_unreadable(runtime)]
    for failure in failures:
        print(f"credlife: {failure}", file=sys.stderr)
    if not args.json:
        print(
            f"\n{len(summary.actions)} row(s) for {summary.users} user(s) in account {summary.account_id}"
            f" ({args.where}){' (dry-run policy)' if summary.dry_run else ''}; "
            f"{sum(summary.api_calls.values())} API calls",
            file=out,
        )
    return _exit_code(summary.actions, failures)


def _report(args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    from credlife.aws.errors import NotFound
    from credlife.domain.owners import resolve_owner
    from credlife.publishing import ACTIONS_TAKEN_WINDOW
    from credlife.report import build_report, write_report

    runtime = _runtime(args)
    owner_rules = runtime.settings.notifications.owner_rules()
    now = datetime.now(UTC)
    with _scan(args, runtime) as scan:
        summary, snapshot, resolved = runtime.service.plan_with_snapshot(now, allow_missing_state=True)
        try:
            audit = runtime.state.audit_log(
                summary.account_id, since=now - 3 * ACTIONS_TAKEN_WINDOW, phase="result"
            )
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
        owner_of=lambda user: resolve_owner(user, owner_rules).address,
        audit_days=3 * ACTIONS_TAKEN_WINDOW.days,  # the trend's 30 and 90 days
    )
    written = write_report(report, Path(args.out))
    failures = [*summary.failures, *scan.refusals(), *_unreadable(runtime)]
    for failure in failures:
        print(f"credlife: {failure}", file=sys.stderr)
    print(
        f"{len(report.rows)} credential row(s) for {summary.users} user(s) in account {summary.account_id}: "
        + ", ".join(str(path) for path in written.values()),
        file=out,
    )
    return _exit_code(summary.actions, failures)


def _apply(args: argparse.Namespace, out: TextIO) -> int:
    runtime = _runtime(args)
    try:
        summary = runtime.service.run(datetime.now(UTC), only_user=args.user)
    except Exception as error:
        raise _missing_table(args, runtime, error) or error from None
    _check_user(args, summary.users, summary.account_id)
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
    failures = [*summary.failures, *_unreadable(runtime)]
    _print_failures(failures, "apply")
    return _exit_code(summary.actions, failures)


def _rotate_now(args: argparse.Namespace, out: TextIO) -> int:
    import getpass

    from credlife.handlers.rotate_now import rotate_now_result

    requested_by = args.requested_by or f"cli:{getpass.getuser()}"
    runtime = _runtime(args)
    try:
        summary = runtime.service.run(
            datetime.now(UTC), only_user=args.user, rotate_now={args.user: requested_by}
        )
    except Exception as error:
        raise _missing_table(args, runtime, error) or error from None
    _check_user(args, summary.users, summary.account_id)
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
    _print_failures(summary.failures, "rotate-now")
    if result["status"] == "failed":
        return EXIT_ERROR
    return EXIT_CLEAN if result["status"] in {"rotated", "would_rotate"} else EXIT_FINDINGS


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    from credlife.demo import run_demo

    return run_demo(out, days=args.days, step=args.step, config=args.config)


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    from credlife.aws.risk_factory import trusted_policy
    from credlife.replay import replay

    risky = False
    try:
        for row in replay(args.paths, policy=trusted_policy(_settings(args))):
            risky = risky or bool(row["risky"])
            print(json.dumps(row, sort_keys=True), file=out)
    except FileNotFoundError as error:
        print(f"credlife: {error}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_FINDINGS if risky else EXIT_CLEAN


class _ConsoleLog(logging.Handler):
    """What the commands log at WARNING and above, as one line each on stderr (after ending any progress
    line). Throttling retries are shown as they happen (at most one line every `RETRY_LINE_INTERVAL_S`),
    so a long back-off is never silent. Refusals are collected: a scan that a policy refused a call to is
    incomplete (a user's keys, the password policy, ... missing), so the command says which action was
    refused, points at the operator policy, and exits 2."""

    RETRY_LINE_INTERVAL_S = 5.0

    def __init__(
        self, stream: TextIO, *, timeout: float | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(logging.WARNING)
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._timeout = timeout
        self._last_retry_line: float | None = None
        self.bar: ProgressBar | None = None
        self.denied: dict[str, int] = {}
        #: The last action AWS throttled (named when the deadline ends the command).
        self.throttled: str | None = None
        self.retries = 0
        #: Which table and region the command reads (named in a missing-state-table warning).
        self.where: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        from credlife.aws.errors import denied_action

        try:
            retrying = getattr(record, "retrying", None)
            if retrying is not None:
                self._retrying(str(retrying), getattr(record, "delay_s", None))
                return
            error = getattr(record, "error", None)
            action = denied_action(str(error)) if error is not None else None
            if action is not None:
                self.denied[action] = self.denied.get(action, 0) + 1
                return
            user = getattr(record, "user", None)
            line = record.getMessage() + (f" ({user})" if user else "") + (f": {error}" if error else "")
            if self.where and record.getMessage().startswith("state table not found"):
                line += f" [{self.where}]"
            self.end_progress()
            print(f"credlife: warning: {line}", file=self._stream)
        except Exception:  # a log line never fails the command
            self.handleError(record)

    def _retrying(self, action: str, delay_s: object) -> None:
        self.throttled, self.retries = action, self.retries + 1
        now = self._clock()
        if self._last_retry_line is not None and now - self._last_retry_line < self.RETRY_LINE_INTERVAL_S:
            return
        self._last_retry_line = now
        wait = f" in {delay_s:.0f} s" if isinstance(delay_s, int | float) else ""
        left = (
            f"; giving up in {max(0.0, self._timeout - (now - self._started)):.0f} s (--timeout)"
            if self._timeout
            else ""
        )
        self.end_progress()
        print(
            f"credlife: AWS is throttling {action}: retrying{wait} ({self.retries} retries so far{left})",
            file=self._stream,
            flush=True,
        )

    def end_progress(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def refusals(self) -> list[str]:
        return [
            f"access denied: the caller is not authorized to perform {action} ({count} call(s) refused); "
            f"the scan is incomplete. {_permission_hint('plan')}"
            for action, count in sorted(self.denied.items())
        ]


@contextmanager
def _logs_to_stderr(out: TextIO) -> Iterator[None]:
    """stdout carries only the command's output. While a command runs, a log handler bound to stdout when
    it was made (the Powertools logger the Lambda handlers share prints JSON lines there) is set aside:
    the console log (`_ConsoleLog`) says on stderr, in one line each, what the command logs. Anything else
    that prints to stdout (a library's print) is sent to stderr. A handler whose stream was closed under
    it (a host that imported the handlers while its stdout was captured) is set aside too."""
    set_aside: list[tuple[logging.Logger, logging.Handler]] = []
    stdouts = {id(out), id(sys.__stdout__)}
    for logger in (logging.getLogger("credlife"), logging.getLogger()):
        for handler in list(logger.handlers):
            stream = getattr(handler, "stream", None)
            if isinstance(handler, logging.StreamHandler) and (
                id(stream) in stdouts or getattr(stream, "closed", False)
            ):
                logger.removeHandler(handler)
                set_aside.append((logger, handler))
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        for logger, handler in set_aside:
            logger.addHandler(handler)


@contextmanager
def _scan(args: argparse.Namespace, runtime: Runtime) -> Iterator[_ConsoleLog]:
    """Progress bars (when wanted) on stderr for the length of a scan; yields the console log, whose
    refusals make the scan incomplete."""
    from credlife.progress import ProgressBar, wanted

    console: _ConsoleLog = args.console
    stream = sys.stderr
    bar = ProgressBar(stream) if wanted(stream, args.progress) else None
    console.bar = bar
    runtime.service.progress = bar
    try:
        yield console
    finally:
        runtime.service.progress = None
        console.bar = None
        if bar is not None:
            bar.close()


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


def _permission_hint(command: str | None) -> str:
    if command in READ_ONLY_COMMANDS:
        return f"plan and report need the read-only operator policy {OPERATOR_POLICY}"
    return (
        f"{command or 'this command'} changes IAM and needs the automation's permissions (the lifecycle "
        f"function's role); the read-only operator policy {OPERATOR_POLICY} covers only plan and report"
    )


def _print_failures(failures: Sequence[str], command: str) -> None:
    """Each failure on its own line; then, when AWS refused a call, which permissions the command needs."""
    from credlife.aws.errors import denied_action

    for failure in failures:
        print(f"credlife: {failure}", file=sys.stderr)
    if command not in READ_ONLY_COMMANDS and any(denied_action(f) for f in failures):
        print(f"credlife: access denied: {_permission_hint(command)}", file=sys.stderr)


#: AWS error codes meaning the credentials themselves were rejected (expired, revoked, mistyped).
_REJECTED_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "RequestExpired",
    }
)


def _explain(error: Exception, command: str | None = None) -> str:
    """One line for stderr: what failed and what to do about it (never request parameters or secrets)."""
    from botocore.exceptions import (
        NoCredentialsError,
        NoRegionError,
        ProfileNotFound,
        SSOTokenLoadError,
        TokenRetrievalError,
        UnauthorizedSSOTokenError,
    )

    from credlife.aws.errors import AccessDenied, AwsError, Throttled

    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found: set AWS_PROFILE (or run `aws configure` / `aws sso login`)"
    if isinstance(error, SSOTokenLoadError | UnauthorizedSSOTokenError | TokenRetrievalError):
        return f"the AWS SSO session is missing or expired: run `aws sso login` ({type(error).__name__})"
    if isinstance(error, ProfileNotFound):
        return f"{error}: check --profile / AWS_PROFILE against ~/.aws/config"
    if isinstance(error, NoRegionError):
        return "no AWS region set: pass --region, or set AWS_REGION or AWS_DEFAULT_REGION"
    if isinstance(error, AccessDenied):
        action = error.action or f"the IAM action for {error.operation}"
        return f"access denied: the caller is not authorized to perform {action}. {_permission_hint(command)}"
    if isinstance(error, Throttled):
        return (
            f"AWS throttled {error.action or error.operation} beyond the retry budget (every retry with "
            "back-off was used up); try again in a few minutes, when fewer IAM calls are running in the "
            "account"
        )
    if isinstance(error, AwsError) and error.code in _REJECTED_CREDENTIALS:
        return (
            f"AWS rejected the credentials ({error.code}): refresh them (`aws sso login`, or a new key) "
            "and check AWS_PROFILE"
        )
    if isinstance(error, AwsError):
        return str(error)
    return f"{type(error).__name__}: {error}"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
