"""`make bench`: API-call and timing figures for the lifecycle scan, printed and written to
bench/results.json. A script, not a timed test: figures are measured here, never asserted in unit tests.

Each scenario runs in its own process (so peak RSS is that scenario's), seeds an in-process moto account
through moto's stored state (~100x faster than the API), then measures a full plan — inventory against
moto, planning, `ListAccessKeys` for the users with an action, re-planning them — and, on the same
account, the naive inventory (per-user ListAccessKeys, GetAccessKeyLastUsed, ListMFADevices,
GetLoginProfile, ListUserTags). Planner throughput is measured on a pure in-memory snapshot.

The organization scenario goes through the SQS worker path: Organizations lists the member accounts, the
scheduler's fan-out queues one message each (moto SQS), and the account worker handler is fed those
messages; it assumes the member role (moto's STS gives a session acting in that account's own state) and
runs the dry-run lifecycle there. Each account's credential report is generated before timing (a report
is usually fresh: IAM serves it for 4 hours); moto answers a first generation with STARTED and the
inventory would otherwise wait its 1 s back-off per account."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import time_machine

ACCOUNT = "123456789012"
NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
SIZES = (100, 1000, 5000)
RUN_SIZES = (1000, 5000)
ORG_ACCOUNTS = 20
ORG_USERS = 1000
PLANNER_USERS = 100_000
RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results.json"


def _env() -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - a dummy credential moto accepts
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)


def seed(users: int, account: str = ACCOUNT) -> None:
    """A realistic mix: most keys young and in use, some aged, some idle, some users with two keys or
    none. Written straight into moto's backend (create_date / last_used set on the stored objects)."""
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    backend = iam_backends[account]["global"]
    naive = NOW.replace(tzinfo=None)
    for i in range(users):
        user = backend.create_user(
            "us-east-1", f"user-{i:05d}", path="/people/", tags=[{"Key": "team", "Value": "t"}]
        )
        kind = i % 20
        ages = (
            []
            if kind == 0
            else [(i * 7) % 80]
            if kind < 12
            else [95 + kind]
            if kind < 15
            else [60]
            if kind < 18
            else [200, 10]
        )
        for n, age in enumerate(ages):
            key = user.create_access_key(prefix="AKIA")
            key.create_date = naive - timedelta(days=age, seconds=n)
            idle = 50 if kind in (15, 16, 17) else 0.1
            key.last_used = AccessKeyLastUsed(
                timestamp=naive - timedelta(days=idle), service="s3", region="us-east-1"
            )


def seed_realistic(users: int, account: str = ACCOUNT) -> None:
    """`seed`, plus console users: every 4th user has a password (one in four of them never used, the
    others used 0-120 days ago), every 8th an MFA device; owners by tag."""
    from moto.iam.models import iam_backends

    seed(users, account)
    backend = iam_backends[account]["global"]
    naive = NOW.replace(tzinfo=None)
    for i in range(0, users, 4):
        user = backend.get_user(f"user-{i:05d}")
        backend.tag_user(user.name, [{"Key": "owner", "Value": f"owner-{i % 50}@example.com"}])
        backend.create_login_profile(user.name, "Not-a-real-pw-1234!")
        used = None if i % 16 == 0 else naive - timedelta(days=(i * 3) % 120)
        user.password_last_used = used  # type: ignore[assignment]
        if i % 8 == 0:
            backend.enable_mfa_device(user.name, f"arn:aws:iam::{account}:mfa/{user.name}", "1", "2")


#: Modelled latencies of a run's calls from a Lambda function (client CPU measured at ~1.2 ms per call).
IAM_CALL_S = 0.050
DYNAMODB_WRITE_S = 0.006
_WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:TransactWriteItems",
    "dynamodb:BatchWriteItem",
)


def whole_runs(users: int) -> dict[str, Any]:
    """Whole scheduled runs (recover, inventory, plan, key ids, execute, queue, deliver, report) on a
    realistic seed in dry-run: a first day, then two steady days. Counts by action, DynamoDB writes
    (requests), and a modelled wall time from the counts."""
    _env()
    import boto3
    from moto import mock_aws
    from moto.iam.models import iam_backends

    from credlife.aws.factory import build_runtime
    from credlife.aws.state_store import create_state_table
    from credlife.config import parse_settings

    runs: list[dict[str, Any]] = []
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        create_state_table(session.client("dynamodb"), "bench-state")
        session.client("ses").verify_email_identity(EmailAddress="credlife@example.com")  # the sender
        seed_realistic(users)
        settings = parse_settings(
            {
                "state_table": "bench-state",
                "policy": {"dry_run": True},
                "sender_email": "credlife@example.com",
            }
        )
        runtime = build_runtime(settings, session)
        for day, label in ((0, "first day"), (1, "steady dry-run day"), (2, "steady dry-run day 2")):
            iam_backends[ACCOUNT]["global"].credential_report = None  # a fresh report each day
            runtime.counter.reset()
            started = time.perf_counter()
            summary = runtime.service.run(NOW + timedelta(days=day))
            wall = time.perf_counter() - started
            calls = runtime.counter.snapshot()
            iam = sum(n for k, n in calls.items() if k.startswith("iam:"))
            writes = sum(calls.get(k, 0) for k in _WRITES)
            repeats = sum(1 for a in summary.actions if a.repeat)
            runs.append(
                {
                    "run": label,
                    "rows": len(summary.actions),
                    "rows_already_audited": repeats,
                    "rows_new_or_changing": len(summary.actions) - repeats,
                    "iam_calls": iam,
                    "dynamodb_writes": writes,
                    "calls_by_action": calls,
                    "modelled_wall_s": round(iam * IAM_CALL_S + writes * DYNAMODB_WRITE_S, 1),
                    "moto_wall_s": round(wall, 2),
                    "failures": len(summary.failures),
                }
            )
    return {
        "scenario": f"whole-runs-{users}",
        "accounts": 1,
        "users": users,
        "model": f"{IAM_CALL_S * 1000:.0f} ms per IAM call, {DYNAMODB_WRITE_S * 1000:.0f} ms per DynamoDB "
        "write",
        "runs": runs,
        "inventory_calls": None,
        "total_calls": sum(sum(r["calls_by_action"].values()) for r in runs),
        "calls_by_action": {},
        "wall_s": round(sum(r["moto_wall_s"] for r in runs), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "plan_users_per_s": None,
        "naive_calls": None,
    }


def naive_inventory(iam: Any) -> None:
    """What many tools do: list users, then several calls per user and per key."""
    for page in iam.get_paginator("list_users").paginate():
        for u in page["Users"]:
            name = u["UserName"]
            for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
                iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
            iam.list_mfa_devices(UserName=name)
            with contextlib.suppress(iam.exceptions.NoSuchEntityException):
                iam.get_login_profile(UserName=name)
            iam.list_user_tags(UserName=name)


def scenario(users: int) -> dict[str, Any]:
    _env()
    import boto3
    from moto import mock_aws

    from credlife.aws.calls import ApiCallCounter
    from credlife.aws.factory import build_runtime
    from credlife.aws.state_store import create_state_table
    from credlife.config import parse_settings

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        create_state_table(session.client("dynamodb"), "bench-state")
        seed(users)
        runtime = build_runtime(
            parse_settings({"state_table": "bench-state", "policy": {"dry_run": True}}), session
        )
        # inventory alone
        runtime.inventory.users()
        inventory_calls = runtime.counter.total("iam") + runtime.counter.total("sts")
        runtime.counter.reset()
        # full plan: inventory + state + plan + resolve ids for users with actions + re-plan
        started = time.perf_counter()
        summary, resolved = runtime.service.plan(NOW)
        wall = time.perf_counter() - started
        calls = runtime.counter.snapshot()
        naive_counter = ApiCallCounter()
        naive_inventory(naive_counter.attach(session.client("iam")))
        naive_calls = naive_counter.total()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "scenario": f"single-account-{users}",
        "accounts": 1,
        "users": users,
        "inventory_calls": inventory_calls,
        "total_calls": sum(calls.values()),
        "calls_by_action": calls,
        "users_with_actions": len(resolved),
        "actions": len(summary.actions),
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(peak_mb, 1),
        "plan_users_per_s": None,
        "naive_calls": naive_calls,
    }


def organization(accounts: int = ORG_ACCOUNTS, users: int = ORG_USERS) -> dict[str, Any]:
    """Fan-out over SQS to the account worker, `accounts` member accounts of `users` users each."""
    _env()
    import boto3
    from moto import mock_aws
    from moto.iam.models import iam_backends

    from credlife.aws.state_store import create_state_table
    from credlife.config import parse_settings
    from credlife.handlers import account_worker, scheduled

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        create_state_table(session.client("dynamodb"), "bench-state")
        queue_url = session.client("sqs").create_queue(QueueName="bench-accounts")["QueueUrl"]
        org = session.client("organizations")
        org.create_organization(FeatureSet="ALL")
        members = [
            org.create_account(Email=f"m{i}@example.com", AccountName=f"member-{i}")["CreateAccountStatus"][
                "AccountId"
            ]
            for i in range(accounts)
        ]
        for account in members:
            seed(users, account)
            iam_backends[account]["global"].generate_report()
        settings = parse_settings(
            {
                "state_table": "bench-state",
                "policy": {"dry_run": True},
                "organization": {"enabled": True, "queue_url": queue_url, "exclude_accounts": [ACCOUNT]},
            }
        )
        account_worker.use_worker(settings, session)
        sqs = session.client("sqs")

        started = time.perf_counter()
        # The worker runs on the real clock and refuses messages far from it: move the real clock to the
        # run's time (time_machine leaves perf_counter alone, so the wall time is still measured).
        with time_machine.travel(NOW, tick=False):
            fan_out = scheduled.fan_out(NOW, settings.organization, session)
            runs: list[dict[str, Any]] = []
            failed = 0
            while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                event = {"Records": [_sqs_record(m) for m in batch]}
                for message in batch:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                with _captured_runs(runs):
                    failed += len(account_worker.handler(event, _Context())["batchItemFailures"])
        wall = time.perf_counter() - started
    by_action: dict[str, int] = dict(fan_out["api_calls"])
    for run in runs:
        for action, n in run["api_calls"].items():
            by_action[action] = by_action.get(action, 0) + n
    inventory_ops = {
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:GetAccountAuthorizationDetails",
        "sts:GetCallerIdentity",
    }
    per_account_inventory = sorted({sum(r["api_calls"].get(op, 0) for op in inventory_ops) for r in runs})
    return {
        "scenario": f"organization-{accounts}x{users}",
        "accounts": accounts,
        "users": accounts * users,
        "inventory_calls": sum(by_action.get(op, 0) for op in inventory_ops),
        "total_calls": sum(by_action.values()),
        "calls_by_action": dict(sorted(by_action.items())),
        "accounts_processed": len(runs),
        "accounts_failed": failed,
        "per_account_inventory_calls": per_account_inventory,
        "per_account_list_access_keys": sorted({r["api_calls"].get("iam:ListAccessKeys", 0) for r in runs}),
        "per_account_wall_s": round(wall / max(len(runs), 1), 3),
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "plan_users_per_s": None,
        "naive_calls": None,
    }


class _Context:
    function_name = "bench-account-worker"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-account-worker"
    aws_request_id = "bench"


def _sqs_record(message: Any) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:bench-accounts",
        "awsRegion": "us-east-1",
    }


@contextlib.contextmanager
def _captured_runs(runs: list[dict[str, Any]]) -> Any:
    """Collect each account's run result (what the worker logs) by wrapping its record handler."""
    from credlife.handlers import account_worker

    real = account_worker.process_account

    def wrapped(record: Any) -> dict[str, Any]:
        result = real(record)
        runs.append(result)
        return result

    account_worker.process_account = wrapped
    try:
        yield
    finally:
        account_worker.process_account = real


def planner_throughput(users: int = PLANNER_USERS) -> dict[str, Any]:
    from credlife.domain.models import AccessKey, AccountSnapshot, KeyStatus, User
    from credlife.domain.planner import plan
    from credlife.domain.policy import Policy

    built = []
    for i in range(users):
        kind = i % 10
        keys = (
            ()
            if kind == 0
            else (
                AccessKey(
                    NOW - timedelta(days=(i * 7) % 200), KeyStatus.ACTIVE, NOW - timedelta(days=(i * 3) % 70)
                ),
            )
        )
        built.append(User(f"user-{i}", f"arn:aws:iam::{ACCOUNT}:user/user-{i}", access_keys=keys))
    snapshot = AccountSnapshot(ACCOUNT, NOW, tuple(built))
    policy = Policy(dry_run=False)
    started = time.perf_counter()
    actions = plan(snapshot, policy, NOW)
    wall = time.perf_counter() - started
    return {
        "scenario": f"planner-only-{users}",
        "accounts": 1,
        "users": users,
        "inventory_calls": 0,
        "total_calls": 0,
        "calls_by_action": {},
        "actions": len(actions),
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "plan_users_per_s": round(users / wall),
        "naive_calls": None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="user counts (default 100,1000,5000)"
    )
    parser.add_argument("--accounts", type=int, default=ORG_ACCOUNTS, help="organization scenario accounts")
    parser.add_argument("--org-users", type=int, default=ORG_USERS, help="users per organization account")
    parser.add_argument(
        "--run-sizes",
        default=",".join(map(str, RUN_SIZES)),
        help="user counts of the whole-run scenarios (default 1000,5000; empty: none)",
    )
    args = parser.parse_args()
    if args.child:
        if args.child == "planner":
            result = planner_throughput()
        elif args.child == "organization":
            result = organization(args.accounts, args.org_users)
        elif args.child.startswith("runs-"):
            result = whole_runs(int(args.child.removeprefix("runs-")))
        else:
            result = scenario(int(args.child))
        print(json.dumps(result))
        return 0
    results = []
    extra = ["--accounts", str(args.accounts), "--org-users", str(args.org_users)]
    runs = [f"runs-{n}" for n in args.run_sizes.split(",") if n]
    sizes = [n for n in args.sizes.split(",") if n]
    planner = ["planner"] if sizes else []  # `--sizes ''`: only the whole runs (and the organization)
    for child in [*sizes, *planner, *(["organization"] if args.accounts else []), *runs]:
        out = subprocess.run(  # noqa: S603 - this very script, fixed arguments
            [sys.executable, __file__, "--child", child, *extra], capture_output=True, text=True, check=True
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"{'scenario':<26} {'users':>7} {'inv calls':>9} {'total':>6} {'naive':>7} {'ratio':>6} "
        f"{'wall s':>7} {'RSS MB':>7} {'users/s':>9}"
    )
    for r in results:
        if r["scenario"].startswith("whole-runs"):
            continue  # their own table below
        ratio = (
            f"{r['naive_calls'] / r['total_calls']:.0f}x"
            if r.get("naive_calls") and r["total_calls"]
            else "-"
        )
        print(
            f"{r['scenario']:<26} {r['users']:>7} {r['inventory_calls']:>9} {r['total_calls']:>6} "
            f"{r['naive_calls'] or '-':>7} {ratio:>6} {r['wall_s']:>7} {r['peak_rss_mb']:>7} "
            f"{r['plan_users_per_s'] or '-':>9}"
        )
    for r in results:
        if r["calls_by_action"]:
            print(f"  {r['scenario']}: {r['calls_by_action']}")
    for r in results:
        if r["scenario"].startswith("whole-runs"):
            print(f"\n{r['scenario']} (dry-run; modelled wall time: {r['model']}):")
            print(f"  {'run':<22} {'rows':>6} {'new':>6} {'IAM':>6} {'DDB writes':>10} {'model s':>8}")
            for run in r["runs"]:
                print(
                    f"  {run['run']:<22} {run['rows']:>6} {run['rows_new_or_changing']:>6} "
                    f"{run['iam_calls']:>6} {run['dynamodb_writes']:>10} {run['modelled_wall_s']:>8}"
                )
                print(f"    {run['calls_by_action']}")
    print("\ntargets:")
    for r in results:
        if r["scenario"].startswith("single-account"):
            bound = 3 + -(-r["users"] // 1000)
            print(
                f"  {r['scenario']}: inventory calls {r['inventory_calls']} <= 3 + ceil(users/1000) = "
                f"{bound}: {'met' if r['inventory_calls'] <= bound else 'MISSED'}"
            )
        if r["scenario"] == "single-account-5000":
            ok = r["wall_s"] < 5 and r["peak_rss_mb"] < 200
            print(
                f"  full plan of 5,000 users: {r['wall_s']} s < 5 s and {r['peak_rss_mb']} MB < 200 MB: "
                f"{'met' if ok else 'MISSED'}"
            )
        if r["scenario"] == "whole-runs-5000":
            steady = r["runs"][1]
            ok = steady["iam_calls"] <= 50 and steady["dynamodb_writes"] <= max(
                steady["rows_new_or_changing"], 1
            )
            print(
                f"  steady dry-run day at 5,000 users: {steady['iam_calls']} IAM calls <= 50 and "
                f"{steady['dynamodb_writes']} DynamoDB writes <= 1 per new or changing row "
                f"({steady['rows_new_or_changing']}): {'met' if ok else 'MISSED'}"
            )
        if r["scenario"].startswith("planner-only"):
            ok = r["plan_users_per_s"] > 100_000
            print(f"  planning alone: {r['plan_users_per_s']} users/s > 100,000: {'met' if ok else 'MISSED'}")
        if r["scenario"].startswith("organization"):
            single = next(
                (x for x in results if x["scenario"] == f"single-account-{r['users'] // r['accounts']}"), None
            )
            print(
                f"  {r['scenario']}: {r['accounts_processed']} accounts processed, "
                f"{r['accounts_failed']} failed; "
                f"per account: inventory calls {r['per_account_inventory_calls']}, ListAccessKeys "
                f"{r['per_account_list_access_keys']}, {r['per_account_wall_s']} s"
                + (
                    f" (single-account-{single['users']}: inventory {single['inventory_calls']}, "
                    f"ListAccessKeys {single['calls_by_action'].get('iam:ListAccessKeys')}, "
                    f"plan only {single['wall_s']} s)"
                    if single
                    else ""
                )
            )
    RESULTS.parent.mkdir(exist_ok=True)
    # scenarios not measured this time keep their last figures
    measured = {r["scenario"] for r in results}
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    results = [r for r in kept if r["scenario"] not in measured] + results
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\nwritten to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
