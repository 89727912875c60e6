"""`credlife demo`: the whole access-key lifecycle, day 0 to 150, against an in-process moto account.

Seeds ~25 IAM users covering every access-key case of DESIGN §3, then walks the calendar one step at a
time. At each step the simulated workloads use their keys (moto's stored last-used dates), and the real
scheduled Lambda handler runs on a scheduled event whose `time` is that day, with moto's clock moved there
too (time-machine), so keys the automation creates carry that day as their CreateDate. The timeline is read
back from the audit trail the executor wrote to the (moto) state table. No AWS account, no network."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

ACCOUNT = "123456789012"
REGION = "us-east-1"
#: Day 0 of the demo calendar (06:00 UTC, the scheduled run's time every day).
EPOCH = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Key:
    age: int  # days old on day 0
    used_ago: int | None = 1  # days since last use on day 0 (None: never used)
    active: bool = True


@dataclass(frozen=True)
class Console:
    """A console password: created `created_ago` days before day 0, last signed in `used_ago` days before
    (None: never), signs in daily when `daily`; `mfa_day`: the day the user enables MFA (None: never)."""

    created_ago: int = 200
    used_ago: int | None = 1
    daily: bool = True
    mfa_day: int | None = None
    mfa_at_start: bool = False
    reset_required: bool = False


@dataclass(frozen=True)
class Scenario:
    user: str
    story: str
    keys: tuple[Key, ...] = ()
    #: How the workload uses its keys each day: "current" (the newest active key: it picks up a rotated key
    #: from Secrets Manager), "sticky" (the oldest active key until it stops working), "idle" (none),
    #: "resume" (idle, then "current" from `resume_day`).
    habit: str = "current"
    path: str = "/people/"
    tags: dict[str, str] = field(default_factory=dict)
    resume_day: int = 0
    console: Console | None = None
    #: Age on day 0 of an SSH public key for CodeCommit (None: no SSH key).
    ssh_key_age: int | None = None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "ana.fresh", "young key in daily use: warned at 76 days, rotated at 90, old key retired", (Key(10),)
    ),
    Scenario(
        "ben.rotates", "aged key, workload picks up the new key: safe deactivation, then deletion", (Key(80),)
    ),
    Scenario(
        "cara.sticky",
        "aged key, workload keeps the old key: deactivated at the deadline",
        (Key(84),),
        habit="sticky",
    ),
    Scenario(
        "dan.overdue",
        "key far past 90 days on the first run: rotated at once (no notice needed)",
        (Key(200),),
    ),
    Scenario(
        "eve.idle",
        "key idle for 30 days: warned at 38, deactivated at 45, deleted 30 days later",
        (Key(40, used_ago=30),),
        habit="idle",
    ),
    Scenario(
        "finn.never", "key never used: judged by its creation date", (Key(20, used_ago=None),), habit="idle"
    ),
    Scenario(
        "gus.stale",
        "aged and idle for 60 days: unused row (deactivate, never rotate)",
        (Key(200, used_ago=60),),
        habit="idle",
    ),
    Scenario(
        "hana.back",
        "idle key warned, then used again before the deadline: warning void",
        (Key(60, used_ago=37),),
        habit="resume",
        resume_day=5,
    ),
    Scenario(
        "ivan.twokeys",
        "two aged active keys: critical conflict, the automation acts on neither",
        (Key(150), Key(120)),
        habit="both",
    ),
    Scenario(
        "jo.selfserve",
        "aged key plus a fresh key the owner made: old key retired when safe",
        (Key(100), Key(3)),
    ),
    Scenario(
        "kim.quota",
        "aged key beside an inactive key: rotation waits for the inactive key's deletion",
        (Key(95), Key(300, used_ago=200, active=False)),
    ),
    Scenario(
        "lee.inactive",
        "a lone inactive key: deleted 30 days after it was first seen",
        (Key(300, used_ago=150, active=False),),
        habit="idle",
    ),
    Scenario(
        "mo.spare",
        "aged key in use beside an old never-used spare: conflict, spare retired, then rotation",
        (Key(100), Key(50, used_ago=None)),
        habit="sticky",
    ),
    Scenario(
        "ci+deploy=prod.bot@example.com",
        "a name with + = . @ characters: rotated safely",
        (Key(88),),
        path="/service/",
    ),
    Scenario(
        "svc.reporting", "service key in daily use, rotated like any other", (Key(45),), path="/service/"
    ),
    Scenario(
        "olga.exempt",
        "tagged exempt: audited, never acted on",
        (Key(300, used_ago=100),),
        tags={"credlife:exempt": "true", "reason": "vendor-managed"},
    ),
    Scenario(
        "breakglass-admin",
        "named break-glass user: audited, never acted on",
        (Key(400, used_ago=300),),
        habit="idle",
    ),
    Scenario(
        "legacy-batch",
        "outside the managed path prefixes: audited, never acted on",
        (Key(500),),
        path="/system/legacy/",
    ),
    Scenario("pat.console", "console-only user with no access keys: nothing to do", ()),
    Scenario("team-a-1", "young key in daily use", (Key(5),)),
    Scenario("team-a-2", "young key in daily use", (Key(30),)),
    Scenario(
        "team-a-3",
        "young key, idle for a while, then back in use",
        (Key(40, used_ago=20),),
        habit="resume",
        resume_day=10,
    ),
    Scenario("team-b-1", "aged key, switches over after rotation", (Key(91),)),
    Scenario(
        "team-b-2",
        "two keys of two workloads, made together: conflict alert when due, no guessing",
        (Key(20), Key(15)),
        habit="both",
    ),
    Scenario("rita.late", "user created on day 0 with a key at day 0", (Key(0, used_ago=None),)),
    # -- console users (issue 4)
    Scenario(
        "quinn.nomfa",
        "console user without MFA: warned, require-MFA policy attached after 7 days, lifted the moment "
        "the EnableMFADevice event arrives (day 12)",
        console=Console(mfa_day=12),
    ),
    Scenario(
        "ray.nomfa",
        "console user who never enables MFA: warned, reminded, then restricted to MFA set-up",
        console=Console(),
    ),
    Scenario(
        "sam.oldpass",
        "console password (with MFA) unused for 40 days: warned, login profile deleted a week later",
        console=Console(used_ago=40, daily=False, mfa_at_start=True),
    ),
    Scenario(
        "tess.reset",
        "created with a password that must be reset, never signed in: reported, left alone",
        console=Console(created_ago=20, used_ago=None, daily=False, reset_required=True),
    ),
    Scenario(
        "uma.git",
        "SSH key for CodeCommit, 80 days old: warned, set Inactive at 90 days, deleted 30 days later",
        ssh_key_age=80,
    ),
)
#: A syntactically valid SSH public key body (moto checks the format only).
DEMO_SSH_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDlhDoNr0WyH3mdtCt6BqDnDRRWb3BSWs9GSoBwv1hvKRPSUbdG8OcYcIDOPrm2d"
    "8ufXAyqYQUsjLdGiUEEjIsHqpmpsN1oUBpzIpo7ajV8tDyvGxQxcKR2bXzUH8VDGVGzjULVDVHvVWqjn4j0n5Y2WGMQDrbKRRc"
    "6U2W2cbc7Smkh1NzEHUq6MCMxhrAB1bSXt0wWsJFajfv6Mm1a1JaHCtfvFyfcSZyl9lJ9IFi8hVGfXAqSNTVkFhV4nUFTEAmoh"
    "PVQ0cmbaK3lxzkIk3NunVJ0nxaOSuvygWFrqOCpUAuwzDBZvWr6E3Bmd5LcAJvvfLzj2D4Qvg0nWtuZN demo@example"
)
#: The demo account's root row (moto's credential report has none): MFA on, one old access key left.
DEMO_ROOT_KEYS_ACTIVE = (True, False)
#: A weaker account password policy than the baseline: reported as drift (alert) every run.
DEMO_PASSWORD_MIN_LENGTH = 8

SENDER = "credlife@example.com"
REPORT_BUCKET = "credlife-demo-reports"
#: The demo publishes the report and the Security Hub findings every this many runs (and on the last).
PUBLISH_EVERY = 7
#: Where the demo copies the latest scheduled report (from the moto bucket) for a browser to open.
DEMO_REPORT_DIR = Path("demo-report")
SECURITY_EMAIL = "security@example.com"
PLATFORM_EMAIL = "platform-team@example.com"
#: Owners: `owner` tags for people, a `team-email` tag for team users, the /service/ path's default owner,
#: and the security team for anyone else (see `_owner_tags`).
DEMO_NOTIFICATIONS: dict[str, Any] = {
    "path_owners": {"/service/": PLATFORM_EMAIL},
    "security_email": SECURITY_EMAIL,
}

DEMO_POLICY: dict[str, Any] = {
    "dry_run": False,
    "path_prefixes": ["/people/", "/service/"],
    "break_glass_users": ["breakglass-admin"],
    "ssh_keys_enabled": True,
}


def run_demo(out: TextIO, *, days: int = 150, step: int = 1, config: str | None = None) -> int:
    _quiet_local_environment()
    import json

    import boto3
    import time_machine
    from moto import mock_aws

    from credlife.aws.factory import build_runtime
    from credlife.aws.risk_factory import build_event_runtime
    from credlife.aws.state_store import create_state_table
    from credlife.config import load_settings, parse_settings
    from credlife.domain import mfa_policy
    from credlife.domain.root import RootAccount
    from credlife.handlers import events as event_handler
    from credlife.handlers import scheduled
    from credlife.handlers.observability import metrics

    base = load_settings(config, environ={}) if config else None
    settings = parse_settings(
        {
            **(base.model_dump(exclude={"policy"}) if base else {}),
            "policy": {**DEMO_POLICY, **(base.policy.model_dump(exclude_unset=True) if base else {})},
            "state_table": "credlife-demo-state",
            "region": REGION,
        },
        source="demo settings",
    )
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        create_state_table(session.client("dynamodb"), settings.state_table)
        session.client("ses").verify_email_identity(EmailAddress=SENDER)
        topic_arn = session.client("sns").create_topic(Name="credlife-demo-security")["TopicArn"]
        session.client("s3").create_bucket(Bucket=REPORT_BUCKET)
        session.client("securityhub").enable_security_hub()
        settings = settings.model_copy(
            update={
                "sender_email": settings.sender_email or SENDER,
                "security_topic_arn": topic_arn,
                "report": settings.report.model_copy(update={"bucket": REPORT_BUCKET}),
                "security_hub": settings.security_hub.model_copy(update={"enabled": True}),
                "notifications": settings.notifications.model_copy(update=DEMO_NOTIFICATIONS),
            }
        )
        iam = session.client("iam")
        _seed(iam)
        require_mfa = iam.create_policy(
            PolicyName=mfa_policy.POLICY_NAME,
            PolicyDocument=json.dumps(mfa_policy.require_mfa_policy_document()),
            Description=mfa_policy.POLICY_DESCRIPTION,
        )["Policy"]["Arn"]
        iam.update_account_password_policy(
            MinimumPasswordLength=DEMO_PASSWORD_MIN_LENGTH,
            RequireNumbers=True,
            AllowUsersToChangePassword=True,
        )
        settings = settings.model_copy(update={"require_mfa_policy_arn": require_mfa})
        runtime = build_runtime(settings, session=session)
        # moto's credential report has no <root_account> row: the demo supplies one
        demo_root = RootAccount(mfa_active=True, access_keys_active=DEMO_ROOT_KEYS_ACTIVE)
        runtime.inventory.root_account = lambda: demo_root  # type: ignore[method-assign]
        if runtime.service.publisher is not None:
            runtime.service.publisher = _EveryNthRun(runtime.service.publisher, PUBLISH_EVERY, days // step)
        scheduled.use_runtime(runtime)
        event_handler.use_runtime(build_event_runtime(settings, session))
        print(
            f"credential-lifecycle demo: {len(SCENARIOS)} users, day 0 = {EPOCH:%Y-%m-%d}, "
            f"runs every {step} day(s) until day {days}, dry_run={settings.policy.dry_run}\n",
            file=out,
        )
        failures = 0
        mail_days: list[int] = []  # the day each email in SES's record went out
        for day in range(0, days + 1, step):
            now = EPOCH + timedelta(days=day)
            _workloads_use_keys(day, now)
            # Every handler runs with the real clock moved to the demo's day (a run's clock is the real
            # one; an event far from it is refused).
            for event in _console_users_act(iam, day, now):
                with time_machine.travel(now, tick=False):
                    event_handler.handler(event, _Context(function_name="credlife-demo-events"))
            with time_machine.travel(now, tick=False):
                result = scheduled.handler(_scheduled_event(now), _Context())
            mail_days.extend([day] * (len(_sent_mail()) - len(mail_days)))
            metrics.clear_metrics()  # metrics are disabled locally; don't let them pile up
            if result.get("status") != "ok":
                failures += 1
                print(f"day {day}: run reported {result.get('failures')}", file=out)
        scheduled.use_runtime(None)
        event_handler.use_runtime(None)
        _print_timeline(out, runtime, iam, days)
        _print_notices(out, mail_days, topic_arn)
        _print_published(out, session)
        calls = runtime.counter.snapshot()
        print(
            f"\nAPI calls over {days // step + 1} runs: {sum(calls.values())} "
            f"({', '.join(f'{k} {v}' for k, v in calls.items())})",
            file=out,
        )
    return 0 if failures == 0 else 2


class _EveryNthRun:
    """Deployed, every scheduled run publishes; the demo publishes every `every`-th run and the last one,
    because moto takes seconds to serialize a month of audit entries (real DynamoDB does not)."""

    def __init__(self, publisher: Any, every: int, last: int) -> None:
        self.publisher, self.every, self.last, self.runs = publisher, every, last, 0

    def publish(self, summary: Any, users: Any, now: datetime) -> None:
        run, self.runs = self.runs, self.runs + 1
        if run % self.every == 0 or run == self.last:
            self.publisher.publish(summary, users, now)


def _print_published(out: TextIO, session: Any) -> None:
    """Where the scheduled report went (the bucket, and a local copy of the latest to open), and what
    Security Hub holds: active findings by control, and the ones resolved along the way."""
    from collections import Counter

    s3 = session.client("s3")
    listed = s3.list_objects_v2(Bucket=REPORT_BUCKET).get("Contents", [])
    latest = [o["Key"] for o in listed if "/latest/" in o["Key"]]
    days = sorted({o["Key"].split("/")[2] for o in listed if "/latest/" not in o["Key"]})
    DEMO_REPORT_DIR.mkdir(exist_ok=True)
    for key in latest:
        body = s3.get_object(Bucket=REPORT_BUCKET, Key=key)["Body"].read()
        (DEMO_REPORT_DIR / key.rsplit("/", 1)[1]).write_bytes(body)
    print(
        f"\nCompliance report: s3://{REPORT_BUCKET}/{latest[0].rsplit('/', 1)[0] if latest else '-'}/ "
        f"(published every {PUBLISH_EVERY} runs in the demo, every run when deployed: {len(days)} dated "
        "copies); the latest copied to "
        f"{DEMO_REPORT_DIR}/report.html",
        file=out,
    )
    hub = session.client("securityhub")
    findings: list[dict[str, Any]] = []
    for page in hub.get_paginator("get_findings").paginate():
        findings.extend(page["Findings"])
    active = Counter(
        f["GeneratorId"].removeprefix("credlife/") for f in findings if f["RecordState"] == "ACTIVE"
    )
    resolved = Counter(
        f["GeneratorId"].removeprefix("credlife/") for f in findings if f["RecordState"] == "ARCHIVED"
    )
    print(
        f"Security Hub (ASFF): {sum(active.values())} active finding(s) "
        f"({', '.join(f'{c} {n}' for c, n in sorted(active.items())) or 'none'}); "
        f"{sum(resolved.values())} resolved and archived "
        f"({', '.join(f'{c} {n}' for c, n in sorted(resolved.items())) or 'none'})",
        file=out,
    )


def _quiet_local_environment() -> None:
    """Fake credentials (moto answers everything), no metrics flush to stdout, warnings-only logs."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "CredentialLifecycleDemo",
    }.items():
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)


def _seed(iam: Any) -> None:
    import time_machine
    from moto.iam.models import iam_backends

    for scenario in SCENARIOS:
        oldest = max((k.age for k in scenario.keys), default=0)
        tags = {**_owner_tags(scenario), **scenario.tags}
        with time_machine.travel(EPOCH - timedelta(days=oldest + 1), tick=False):
            iam.create_user(
                UserName=scenario.user,
                Path=scenario.path,
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        for key in sorted(scenario.keys, key=lambda k: -k.age):
            with time_machine.travel(EPOCH - timedelta(days=key.age), tick=False):
                created = iam.create_access_key(UserName=scenario.user)["AccessKey"]
            if not key.active:
                iam.update_access_key(
                    UserName=scenario.user, AccessKeyId=created["AccessKeyId"], Status="Inactive"
                )
            if key.used_ago is not None:
                stored = _moto_key(iam_backends, scenario.user, created["AccessKeyId"])
                _set_last_used(stored, EPOCH - timedelta(days=key.used_ago))
        _seed_console(iam, scenario)
        if scenario.ssh_key_age is not None:
            uploaded = iam.upload_ssh_public_key(UserName=scenario.user, SSHPublicKeyBody=DEMO_SSH_KEY)
            key_id = uploaded["SSHPublicKey"]["SSHPublicKeyId"]
            moto_user: Any = iam_backends[ACCOUNT]["global"].users[scenario.user]
            for ssh in moto_user.ssh_public_keys:
                if ssh.ssh_public_key_id == key_id:
                    ssh.upload_date = (EPOCH - timedelta(days=scenario.ssh_key_age)).replace(tzinfo=None)


def _seed_console(iam: Any, scenario: Scenario) -> None:
    from moto.iam.models import iam_backends

    console = scenario.console
    if console is None:
        return
    iam.create_login_profile(UserName=scenario.user, Password="Demo-Password-0!")  # noqa: S106 - moto only
    stored: Any = iam_backends[ACCOUNT]["global"].users[scenario.user]
    stored.create_date = (EPOCH - timedelta(days=console.created_ago)).replace(tzinfo=None)
    stored.password_last_used = (
        None if console.used_ago is None else (EPOCH - timedelta(days=console.used_ago)).replace(tzinfo=None)
    )
    stored.password_reset_required = console.reset_required
    if console.mfa_at_start:
        _enable_mfa(iam, scenario.user)


def _enable_mfa(iam: Any, user: str) -> None:
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{user}-phone")["VirtualMFADevice"][
        "SerialNumber"
    ]
    iam.enable_mfa_device(
        UserName=user, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )


def _console_users_act(iam: Any, day: int, now: datetime) -> list[dict[str, Any]]:
    """Console users sign in an hour before the run; on its `mfa_day` a user enables MFA, and CloudTrail's
    `EnableMFADevice` event (as EventBridge delivers it) is returned for the event handler."""
    from moto.iam.models import iam_backends

    users: Any = iam_backends[ACCOUNT]["global"].users
    events: list[dict[str, Any]] = []
    for scenario in SCENARIOS:
        console = scenario.console
        if console is None:
            continue
        if console.daily:
            users[scenario.user].password_last_used = (now - timedelta(hours=1)).replace(tzinfo=None)
        if console.mfa_day == day:
            _enable_mfa(iam, scenario.user)
            events.append(_enable_mfa_event(scenario.user, now))
    return events


def _enable_mfa_event(user: str, at: datetime) -> dict[str, Any]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    arn = f"arn:aws:iam::{ACCOUNT}:user/people/{user}"
    return {
        "version": "0",
        "id": f"demo-mfa-{user}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": ACCOUNT,
        "time": stamp,
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "arn": arn, "accountId": ACCOUNT, "userName": user},
            "eventTime": stamp,
            "eventSource": "iam.amazonaws.com",
            "eventName": "EnableMFADevice",
            "awsRegion": REGION,
            "sourceIPAddress": "198.51.100.7",
            "userAgent": "console.amazonaws.com",
            "requestParameters": {
                "userName": user,
                "serialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/{user}-phone",
            },
            "responseElements": None,
            "eventID": f"demo-enable-mfa-{user}",
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT,
        },
    }


def _owner_tags(scenario: Scenario) -> dict[str, str]:
    if scenario.user.startswith("team-"):
        return {"team-email": f"{scenario.user[:6]}@example.com"}
    if scenario.path == "/people/" and "." in scenario.user:
        return {"owner": f"{scenario.user.split('.')[0]}@example.com"}
    return {}  # /service/ users: the path's default owner; anyone else: the security team


def _sent_mail() -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends[ACCOUNT][REGION].sent_messages)


def _print_notices(out: TextIO, mail_days: list[int], topic_arn: str) -> None:
    """What each owner received (from moto's SES record): the first digest in full, then one line per
    later email; then the security topic's run summaries."""
    import email
    import email.policy
    import json

    from moto.sns.models import sns_backends

    per_owner: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for day, stored in zip(mail_days, _sent_mail(), strict=True):
        parsed = email.message_from_string(stored.raw_data, policy=email.policy.default)
        per_owner[str(parsed["To"])].append((day, parsed))
    print(
        f"\nNotices: {len(mail_days)} emails to {len(per_owner)} owners (one digest per owner per run)\n",
        file=out,
    )
    for owner in sorted(per_owner):
        (first_day, first), *later = per_owner[owner]
        print(f"══ {owner}: {len(per_owner[owner])} email(s)", file=out)
        print(f"   day {first_day:>3}  Subject: {str(first['Subject']).strip()}", file=out)
        text = next(p for p in first.walk() if p.get_content_type() == "text/plain").get_content()
        for line in str(text).rstrip().splitlines():
            print(f"   │ {line}", file=out)
        for day, parsed in later:
            print(f"   day {day:>3}  {str(parsed['Subject']).strip()}", file=out)
        print(file=out)
    sent = sns_backends[ACCOUNT][REGION].topics[topic_arn].sent_notifications
    print(f"Security topic: {len(sent)} run summaries (JSON)", file=out)
    for _, message, subject, _, _ in sent[:8]:
        data = json.loads(message)
        kinds = sorted({e["kind"] + ":" + e["user"] for e in data["escalations"]})
        print(f"   {data['at'][:10]}  {subject}  {', '.join(kinds)[:120]}", file=out)
    if len(sent) > 8:
        print(f"   … {len(sent) - 8} more", file=out)


def _moto_key(backends: Any, user: str, key_id: str) -> Any:
    for key in backends[ACCOUNT]["global"].users[user].access_keys:
        if key.access_key_id == key_id:
            return key
    raise LookupError(key_id)


def _set_last_used(stored_key: Any, when: datetime) -> None:
    from moto.iam.models import AccessKeyLastUsed

    stored_key.last_used = AccessKeyLastUsed(
        timestamp=when.astimezone(UTC).replace(tzinfo=None), service="s3", region=REGION
    )


def _workloads_use_keys(day: int, now: datetime) -> None:
    """Each workload makes its calls an hour before the day's run, with the key its habit picks."""
    from moto.iam.models import iam_backends

    users = iam_backends[ACCOUNT]["global"].users
    for scenario in SCENARIOS:
        habit = scenario.habit
        if habit == "resume":
            habit = "current" if day >= scenario.resume_day else "idle"
        live = [k for k in users[scenario.user].access_keys if k.status == "Active"]
        if habit == "idle" or not live:
            continue
        ordered = sorted(live, key=lambda k: k.create_date)
        chosen = ordered if habit == "both" else [ordered[-1] if habit == "current" else ordered[0]]
        for key in chosen:
            _set_last_used(key, now - timedelta(hours=1))


def _scheduled_event(now: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"demo-{now:%Y%m%d}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/credlife-lifecycle-schedule"],
        "detail": {},
    }


@dataclass
class _Context:
    """The bits of a Lambda context Powertools reads."""

    function_name: str = "credlife-demo-lifecycle"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:credlife-demo-lifecycle"
    aws_request_id: str = "demo"


_LABELS = {
    "warn": "warned",
    "rotate": "ROTATED",
    "deactivate": "DEACTIVATED",
    "delete": "DELETED",
    "alert": "ALERT",
    "blocked": "blocked",
    "exempt": "exempt",
    "enforce": "ENFORCED",
    "lift": "LIFTED",
}


def _print_timeline(out: TextIO, runtime: Any, iam: Any, days: int) -> None:
    entries = [e for e in runtime.state.audit_log(ACCOUNT) if e.phase == "result"]
    per_user: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    repeated: dict[tuple[str, str, str], int] = defaultdict(int)
    for entry in sorted(entries, key=lambda e: e.at):
        row = entry.action
        day = (entry.at - EPOCH).days
        kind = str(row["action"])
        counts[str(row["user"])][kind] += 1
        if kind in {"alert", "blocked", "exempt"}:  # reported every run: show the first, count the rest
            signature = (str(row["user"]), kind, f"{row.get('key_id') or ''} {row['reason']}".strip())
            repeated[signature] += 1
            if repeated[signature] > 1:
                continue
        per_user[str(row["user"])].append(_describe(day, row, entry.outcome, entry.detail))
    account_rows = (
        (
            "<root_account>",
            "(account)",
            "root user from the report's <root_account> row: alerts, never acted on",
        ),
        (
            "<account>",
            "(account)",
            "account password policy (min length 8) compared with the baseline: drift alert",
        ),
    )
    for name, path, story in ((s.user, s.path, s.story) for s in SCENARIOS):
        _print_user(out, name, path, story, per_user, repeated)
    for name, path, story in account_rows:
        _print_user(out, name, path, story, per_user, repeated)
    print(_summary(iam, counts, days), file=out)


def _print_user(
    out: TextIO,
    name: str,
    path: str,
    story: str,
    per_user: dict[str, list[str]],
    repeated: dict[tuple[str, str, str], int],
) -> None:
    print(f"── {name}  ({path})\n   {story}", file=out)
    for line in per_user.get(name, []) or ["   (nothing to do)"]:
        print(line, file=out)
    for (user, kind, what), n in repeated.items():
        if user == name and n > 1:
            print(f"   … {kind} {what} reported on {n} runs", file=out)
    print(file=out)


def _describe(day: int, row: Any, outcome: str, detail: str) -> str:
    kind = str(row["action"])
    key = row.get("key_id") or "-"
    text = f"   day {day:>3}  {_LABELS.get(kind, kind):<11} {key:<21}"
    if kind == "warn":
        text += f" {row['warns_of']} on {str(row['deadline'])[:10]} ({row['stage']}, {row['reason']})"
    else:
        text += f" {row['reason']}"
    if detail and kind == "rotate":
        text += f": {detail.split(';')[0]}; old key retired once safe, by {str(row['deadline'])[:10]}"
    elif row.get("detail") and kind != "warn":
        text += f": {row['detail']}"
    if outcome not in {"applied", "reported"}:
        text += f" [{outcome}]"
    return text


def _summary(iam: Any, counts: dict[str, dict[str, int]], days: int) -> str:
    header = f"{'user':<32} {'warn':>4} {'rot':>3} {'deact':>5} {'del':>3} {'alert':>5}  keys on day {days}"
    lines = ["Summary", header, "─" * len(header)]
    final_day = EPOCH + timedelta(days=days)
    for scenario in SCENARIOS:
        c = counts.get(scenario.user, {})
        keys = iam.list_access_keys(UserName=scenario.user)["AccessKeyMetadata"]
        described = (
            ", ".join(
                f"{k['Status'].lower()} {(final_day - k['CreateDate'].astimezone(UTC)).days}d" for k in keys
            )
            or "none"
        )
        lines.append(
            f"{scenario.user:<32} {c.get('warn', 0):>4} {c.get('rotate', 0):>3} {c.get('deactivate', 0):>5} "
            f"{c.get('delete', 0):>3} {c.get('alert', 0):>5}  {described}"
        )
    return "\n".join(lines)
