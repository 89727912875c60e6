"""`make bench`: API-call and timing figures for the lifecycle scan, printed and written to
bench/results.json. A script, not a timed test: figures are measured here, never asserted in unit tests.

Each scenario runs in its own process (so peak RSS is that scenario's), seeds an in-process moto account
through moto's stored state (~100x faster than the API), then measures a full plan — inventory against
moto, planning, `ListAccessKeys` for the users with an action, re-planning them — and, on the same
account, the naive inventory (per-user ListAccessKeys, GetAccessKeyLastUsed, ListMFADevices,
GetLoginProfile, ListUserTags). Planner throughput is measured on a pure in-memory snapshot."""

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

ACCOUNT = "123456789012"
NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
SIZES = (100, 1000, 5000)
PLANNER_USERS = 100_000
RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results.json"


def _env() -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - a dummy credential moto accepts
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)


def seed(users: int) -> None:
    """A realistic mix: most keys young and in use, some aged, some idle, some users with two keys or
    none. Written straight into moto's backend (create_date / last_used set on the stored objects)."""
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    backend = iam_backends[ACCOUNT]["global"]
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
    args = parser.parse_args()
    if args.child:
        result = planner_throughput() if args.child == "planner" else scenario(int(args.child))
        print(json.dumps(result))
        return 0
    results = []
    for child in [*args.sizes.split(","), "planner"]:
        out = subprocess.run(  # noqa: S603 - this very script, fixed arguments
            [sys.executable, __file__, "--child", child], capture_output=True, text=True, check=True
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"{'scenario':<26} {'users':>7} {'inv calls':>9} {'total':>6} {'naive':>7} {'ratio':>6} "
        f"{'wall s':>7} {'RSS MB':>7} {'users/s':>9}"
    )
    for r in results:
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
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\nwritten to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
