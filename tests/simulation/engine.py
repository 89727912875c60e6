"""Drives one simulated account day by day through the real scheduled handler and checks the invariants
after every run, from the outside.

Each day, in this order: owners act by hand (re-activate a key a workload lost, make a second key for
another workload, delete an inactive key, enable MFA after the MFA notice, sign in); workloads use their
keys (a use less than 4 hours before the run lands after the run read the credential report, as with
AWS's up-to-4-hours-old report); then the scheduled handler runs on an EventBridge event whose `time` is
the day, with the real clock moved there (time-machine), under that day's fault plan. Everything IAM
shows changed during the run is the project's doing; it is checked against what SES accepted, the
state table, the secrets, the security topic and the logs.

Fault rates (per account, drawn from the seed; see `fault_profile`):
- 80 % of accounts have faults; on such an account each day is a fault day with probability 0.25 (the last
  `QUIET_TAIL` days are always quiet, so convergence can be checked);
- a fault day picks one or two of: throttling (each call of 1-3 services, rate 5-30 %), Secrets Manager
  writes failing (30-80 %), DynamoDB writes failing (5-30 %), the function stopped right after AWS call N
  (N uniform in 1..60);
- half of the faulty accounts also have SES refusing every email for 3 to 10 consecutive days;
- 30 % of the faulty accounts have a flaky Secrets Manager on every day: writes fail (30 %) or fail with
  a validation error echoing the secret value (15 %), and on 30 % of days the run stops right after
  `CreateAccessKey`.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import time_machine
from moto.iam.models import AccessKeyLastUsed, iam_backends
from moto.moto_api._internal import mock_random

from credlife.handlers import scheduled
from credlife.handlers.observability import metrics
from tests.simulation import faults, observe, world
from tests.simulation.observe import Change, Notice
from tests.simulation.world import EPOCH, REGION, SimAccount, Workload

TABLE = "credlife-sim-state"
SECRET_PREFIX = "credlife/access-keys"
NOTICE_DAYS = 7
#: Days of use that make a key "in use" for invariant (b) (a weekly job counts).
RECENT_USE_DAYS = 7
#: Quiet runs after which faults must have converged (invariants e and h).
CONVERGE_RUNS = 2
#: The last days of every account are fault-free.
QUIET_TAIL = 6
#: Calls right after which a stop hurts most (half of the stops; the others stop after a random call N).
STOP_POINTS = (
    "iam:CreateAccessKey",
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:PutResourcePolicy",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "sesv2:SendEmail",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "iam:AttachUserPolicy",
    "iam:DeleteLoginProfile",
)
#: A notice older than this belongs to an earlier episode.
EPISODE_DAYS = 75
#: The credential report can be this old: uses within it are not in the report the run reads.
REPORT_LAG_HOURS = 4.0

INVARIANTS = {
    "a": "no disruptive action unless the owner received a notice naming the credential notice_days before",
    "b": "no key in use disabled before the deadline delivered to its owner, nor after a use a warning asked",
    "c": "never the sibling key (a key named in no notice)",
    "d": "never an exempt or out-of-scope user touched; dry-run changes nothing",
    "e": "no created key without its secret, no secret pointing at a deleted key",
    "f": "no secret value in any output",
    "g": "every action audited before and after",
    "h": "faults converge within a few runs after they clear",
    "i": "a workload never loses its last working key before the deadline it was given",
    "clock": "an event whose time is far from the real clock changes and records nothing",
}


@dataclass
class Violation:
    seed: int
    account: int
    account_id: str
    day: int
    credential: str
    invariant: str
    evidence: str
    issue_class: str = "?"

    def __str__(self) -> str:
        return (
            f"[{self.invariant}] seed={self.seed} account={self.account} ({self.account_id}) day={self.day} "
            f"credential={self.credential} class={self.issue_class}: {self.evidence}"
        )


@dataclass
class AccountResult:
    seed: int
    index: int
    days: int
    violations: list[Violation] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    runs: int = 0
    seconds: float = 0.0
    #: CPU time of this process for the account (load-independent, unlike `seconds`).
    cpu_seconds: float = 0.0


@dataclass
class FaultProfile:
    faulty: bool
    day_rate: float
    ses_down: tuple[int, int] | None  # first day, last day
    #: Secrets Manager is flaky on every (non-quiet) day: rotations meet failed writes, echoed secrets
    #: and stops right after `CreateAccessKey` (rotations are rare, so chance alone would seldom meet them).
    secrets_flaky: bool = False


def fault_profile(seed: int, index: int, days: int, enabled: bool) -> FaultProfile:
    rng = random.Random(f"{seed}:{index}:faults")
    if not enabled or rng.random() < 0.2:
        return FaultProfile(False, 0.0, None)
    ses = None
    if rng.random() < 0.5 and days > QUIET_TAIL + 12:
        start = rng.randint(1, days - QUIET_TAIL - 11)
        ses = (start, start + rng.randint(3, 10) - 1)
    return FaultProfile(True, 0.25, ses, secrets_flaky=rng.random() < 0.3)


def plan_for(profile: FaultProfile, rng: random.Random, day: int, days: int) -> faults.FaultPlan:
    plan = faults.FaultPlan(rng=random.Random(rng.random()))
    if not profile.faulty or day >= days - QUIET_TAIL:
        return plan
    if profile.ses_down and profile.ses_down[0] <= day <= profile.ses_down[1]:
        plan.ses_down = True
    if profile.secrets_flaky:
        plan.secrets_fail, plan.echo_fail = 0.3, 0.15
        if rng.random() < 0.3:
            plan.stop_on = "iam:CreateAccessKey"
    if rng.random() >= profile.day_rate:
        return plan
    for kind in rng.sample(["throttle", "secrets", "dynamo", "stop", "echo"], rng.randint(1, 2)):
        if kind == "throttle":
            services = rng.sample(
                ["iam", "sesv2", "secretsmanager", "dynamodb", "sns", "sts"], rng.randint(1, 3)
            )
            plan.throttle = {s: rng.uniform(0.05, 0.3) for s in services}
        elif kind == "secrets":
            plan.secrets_fail = rng.uniform(0.3, 0.8)
        elif kind == "dynamo":
            plan.dynamo_fail = rng.uniform(0.05, 0.3)
        elif kind == "echo":
            plan.echo_fail = 1.0
        elif rng.random() < 0.5:
            plan.stop_after = rng.randint(1, 60)
        else:
            plan.stop_on = rng.choice(STOP_POINTS)
    return plan


def scheduled_event(at: datetime, account_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"sim-{account_id}-{at:%Y%m%d%H%M}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{account_id}:rule/credlife-lifecycle-schedule"],
        "detail": {},
    }


@dataclass
class _Context:
    function_name: str = "credlife-lifecycle"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:000000000000:function:credlife-lifecycle"
    aws_request_id: str = "simulation"


# -- one account ---------------------------------------------------------------------------------------


class AccountSim:
    """One account's whole simulated life (inside an active `mock_aws()` and `faults.installed()`)."""

    def __init__(
        self,
        seed: int,
        index: int,
        days: int,
        *,
        dry_run: bool,
        faults_on: bool,
        env: dict[str, str],
        sabotage: Callable[[AccountSim, int], None] | None = None,
    ) -> None:
        self.seed, self.index, self.days = seed, index, days
        #: For the harness's own test: something done to IAM in the middle of day N's run, as if by the
        #: project (the detectors must report it).
        self.sabotage = sabotage
        self.today = 0
        self.account: SimAccount = world.generate(seed, index, dry_run=dry_run)
        self.acct = self.account.account_id
        self.rng = random.Random(f"{seed}:{index}:days")
        self.fault_rng = random.Random(f"{seed}:{index}:plans")
        self.profile = fault_profile(seed, index, days, faults_on)
        self.result = AccountResult(seed, index, days)
        self.env = env
        self.notices: list[Notice] = []
        self.emails_seen = 0
        self.topic_seen = 0
        self.secrets: set[str] = set()
        self.exempt = {u.name for u in self.account.users if u.exempt}
        #: Key id → every time a workload signed a call with it.
        self.uses: dict[str, list[datetime]] = defaultdict(list)
        #: Keys the project created (id → user, day) and whether the owner was ever told of them.
        self.created: dict[str, tuple[str, int]] = {}
        self.seen_inactive: set[str] = set()
        #: Credential → the last time its owner re-activated it (a "still needed").
        self.reactivated: dict[tuple[str, str | None], datetime] = {}
        self.owner_changed: set[str] = set()  # keys the owner deactivated/deleted by hand
        self.project_disabled: set[str] = set()  # keys the project deactivated or deleted
        self.quiet_runs = 0
        self.reported: set[tuple[str, str]] = set()
        self.late_uses: list[tuple[str, str, datetime]] = []
        self.sign_ins: dict[str, list[datetime]] = defaultdict(list)
        self.heeded: set[tuple[str, datetime]] = set()
        #: Where the runner captures everything logged (set by the runner; None: logs are not checked).
        self.tap: observe.LogTap | None = None
        #: The fault plan of the current run.
        self.plan: faults.FaultPlan | None = None
        self.stray_day = self.rng.randint(2, max(2, days - 2)) if days > 4 else None

    # -- setup ---------------------------------------------------------------------------------------

    def setup(self) -> None:
        from credlife.domain import mfa_policy

        self.env["MOTO_ACCOUNT_ID"] = self.acct  # every call of this account's clients lands in its own moto
        # moto's ids and secrets come from its own random source: seeded per account, so an account replays
        # alike whichever accounts ran before it in the process
        mock_random.seed(f"{self.seed}:{self.index}:moto")
        session = boto3.Session(region_name=REGION)
        self.iam = session.client("iam")
        self.sm = session.client("secretsmanager")
        ddb = session.client("dynamodb")
        from credlife.aws.state_store import create_state_table

        create_state_table(ddb, TABLE)
        session.client("ses").verify_email_identity(EmailAddress=world.SENDER)
        self.topic = session.client("sns").create_topic(Name="credlife-sim-security")["TopicArn"]
        with time_machine.travel(EPOCH - timedelta(days=1), tick=False):
            self.iam.generate_credential_report()
            self.iam.update_account_password_policy(
                MinimumPasswordLength=14,
                RequireSymbols=True,
                RequireNumbers=True,
                RequireUppercaseCharacters=True,
                RequireLowercaseCharacters=True,
                AllowUsersToChangePassword=True,
                MaxPasswordAge=90,
                PasswordReusePrevention=24,
            )
            self.mfa_arn = world.seed(
                self.account,
                self.iam,
                mfa_policy_document=json.dumps(mfa_policy.require_mfa_policy_document()),
            )
        config = {
            "policy": {
                "dry_run": self.account.dry_run,
                "path_prefixes": list(world.MANAGED_PATHS),
                "break_glass_users": [world.BREAK_GLASS],
                "ssh_keys_enabled": True,
                "notice_days": NOTICE_DAYS,
            },
            "notifications": {"security_email": world.SECURITY_EMAIL},
        }
        self.env.update(
            {
                "CREDLIFE_CONFIG": json.dumps(config),
                "CREDLIFE_STATE_TABLE": TABLE,
                "CREDLIFE_SENDER_EMAIL": world.SENDER,
                "CREDLIFE_SECURITY_TOPIC_ARN": self.topic,
                "CREDLIFE_REQUIRE_MFA_POLICY_ARN": self.mfa_arn,
                "CREDLIFE_REGION": REGION,
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
        )
        self.env.pop("CREDLIFE_DRY_RUN", None)
        self._cold_start()
        self.secrets |= set(observe.key_secrets(self.acct))
        for name, state in observe.iam_state(self.acct).items():
            self.seen_inactive |= {k for k, s in state.keys.items() if s == "Inactive"}
            del name

    def _cold_start(self) -> None:
        """A new Lambda execution environment: the runtime is built from the environment, as the handler
        does at its first invocation (`scheduled.runtime()`). The inventory's back-off sleeps are recorded,
        not slept (the simulation's time is not the wall clock's)."""
        scheduled.use_runtime(None)
        runtime = scheduled.runtime()
        runtime.inventory._sleep = lambda seconds: None

    # -- the days ------------------------------------------------------------------------------------

    def run(self) -> AccountResult:
        started, cpu = time.perf_counter(), time.process_time()
        self.setup()
        for day in range(self.days):
            self.day(day)
        scheduled.use_runtime(None)
        self.result.seconds = time.perf_counter() - started
        self.result.cpu_seconds = time.process_time() - cpu
        return self.result

    def day(self, day: int) -> None:
        self.today = day
        now = EPOCH + timedelta(days=day)
        self.owners_act(day, now)
        self.workloads_act(day, now)
        if day == self.stray_day:
            self.stray_event(day, now)
        before = observe.iam_state(self.acct)
        plan = self.plan = plan_for(self.profile, self.fault_rng, day, self.days)
        response, stopped = self.invoke(now, plan)
        self.result.runs += 1
        self.result.faults.update(plan.injected)
        after = observe.iam_state(self.acct)
        self.quiet_runs = self.quiet_runs + 1 if plan.quiet and not plan.injected else 0
        self.check_run(day, now, before, after, response, stopped, plan)

    def invoke(
        self, now: datetime, plan: faults.FaultPlan, *, event_time: datetime | None = None
    ) -> tuple[dict[str, Any], bool]:
        """One invocation with the real clock at `now` (the event's time, unless `event_time` says else)."""
        late = self.late_uses
        self.late_uses = []
        reads = {"done": False}

        def after_report() -> None:  # uses younger than the report's age land after the run read it
            if not reads["done"]:
                reads["done"] = True
                for user, key_id, at in late:
                    _set_used(self.acct, user, key_id, at)
                if self.sabotage is not None:
                    self.sabotage(self, self.today)

        plan.on_report = after_report
        stopped = False
        response: dict[str, Any] = {}
        with time_machine.travel(now, tick=False), faults.armed(plan):
            try:
                response = scheduled.handler(scheduled_event(event_time or now, self.acct), _Context())
            except faults.Stopped:
                stopped = True
            except Exception as error:  # an invocation error: Lambda reports it; the next day runs again
                response = {"status": "raised", "error": type(error).__name__}
        metrics.clear_metrics()  # metrics are off here (as in the demo): they must not pile up either
        after_report()
        if stopped:
            self._cold_start()
        return response, stopped

    # -- owners and workloads ----------------------------------------------------------------------------

    def owners_act(self, day: int, now: datetime) -> None:
        at = now - timedelta(hours=3)
        rng = self.rng
        state = observe.iam_state(self.acct)
        for workload in self.account.workloads:
            user = workload.user
            if user in self.exempt or user not in state:
                continue
            lost = workload.broken.get(day - 1)
            if lost and rng.random() < self.account.p_reactivate and state[user].keys.get(lost) == "Inactive":
                with time_machine.travel(at, tick=False):
                    self.iam.update_access_key(UserName=user, AccessKeyId=lost, Status="Active")
                self.reactivated[("access_key", lost)] = at
                for host in workload.hosts:
                    host.key_id = lost
        state = observe.iam_state(self.acct)
        for sim_user in self.account.users:
            name = sim_user.name
            if sim_user.exempt or name not in state:
                continue
            keys = state[name].keys
            if len(keys) == 1 and rng.random() < self.account.p_second_key:
                with time_machine.travel(at, tick=False):
                    created = self.iam.create_access_key(UserName=name)["AccessKey"]
                self.secrets.add(created["SecretAccessKey"])
                key_id = created["AccessKeyId"]
                self.account.workloads.append(
                    Workload(
                        name=f"{name}#own{day}",
                        user=name,
                        habit="daily",
                        hosts=[
                            world.Host(key_id=key_id, hours_before=rng.uniform(0.5, 20), switch_after=None)
                        ],
                        reads_secret=False,
                    )
                )
            for key_id, status in keys.items():
                if status == "Inactive" and rng.random() < self.account.p_delete_inactive:
                    self.iam.delete_access_key(UserName=name, AccessKeyId=key_id)
                    self.owner_changed.add(key_id)
            if sim_user.console and state[name].password and sim_user.signs_in_daily:
                stored: Any = iam_backends[self.acct]["global"].users[name]
                stored.password_last_used = world.naive(at)
                self.sign_ins[name].append(at)
            self.heed_unused_warnings(name, state[name], now)
            if sim_user.mfa_after_notice is not None and not state[name].mfa:
                told = [n for n in self.notices if n.user == name and n.credential == "mfa"]
                if told and (now - told[0].sent).days >= sim_user.mfa_after_notice:
                    world.enable_mfa(self.iam, name)

    def heed_unused_warnings(self, user: str, state: observe.UserState, now: datetime) -> None:
        """Half of the owners told "deactivated on D because it is unused; use it before the deadline" do
        exactly that, a few hours before the deadline's run (so the credential report, up to 4 hours old,
        does not show it yet: only a fresh `GetAccessKeyLastUsed` would)."""
        for notice in self.notices:
            if notice.user != user or not notice.unused or notice.deadline is None or not notice.cred_id:
                continue
            if notice.credential != "access_key" or state.keys.get(notice.cred_id) != "Active":
                continue
            if not notice.deadline - timedelta(hours=12) <= now <= notice.deadline:
                continue
            decided = (notice.cred_id, notice.deadline)
            if decided in self.heeded:
                continue
            self.heeded.add(decided)
            if self.rng.random() < 0.5:
                at = now - timedelta(hours=self.rng.uniform(0.5, REPORT_LAG_HOURS - 0.5))
                self.uses[notice.cred_id].append(at)
                self.late_uses.append((user, notice.cred_id, at))

    def workloads_act(self, day: int, now: datetime) -> None:
        state = observe.iam_state(self.acct)
        secrets: dict[str, str | None] = {}
        for workload in self.account.workloads:
            if not workload.active_on(day) or workload.user not in state:
                continue
            user_state = state[workload.user]
            denied = self.mfa_denies_keys(user_state)
            for host in workload.hosts:
                current = secrets.get(workload.user, "?")
                if workload.reads_secret and current == "?":
                    current = secrets[workload.user] = self.read_secret(workload.user)
                if workload.reads_secret and current and current != host.key_id:
                    first = host.seen.setdefault(current, day)
                    switch = host.switch_after
                    if (
                        switch is not None
                        and day - first >= switch
                        and user_state.keys.get(current) == "Active"
                    ):
                        host.key_id = current
                works = (
                    host.key_id is not None and user_state.keys.get(host.key_id) == "Active" and not denied
                )
                if (
                    not works
                    and workload.reads_secret
                    and current
                    and user_state.keys.get(current) == "Active"
                ):
                    host.key_id = current  # its own key stopped working: it takes the handed-over one
                    works = not denied
                if not works:
                    if host.key_id and host.key_id not in workload.broken.values():
                        self.workload_broke(workload, day, now, host.key_id, denied)
                    workload.broken[day] = host.key_id or "-"
                    continue
                assert host.key_id is not None
                at = now - timedelta(hours=host.hours_before)
                self.uses[host.key_id].append(at)
                if host.hours_before < REPORT_LAG_HOURS:
                    self.late_uses.append((workload.user, host.key_id, at))
                else:
                    _set_used(self.acct, workload.user, host.key_id, at)

    def mfa_denies_keys(self, state: observe.UserState) -> bool:
        """AWS's policy evaluation, which moto does not do: the require-MFA policy denies calls signed with
        long-term access keys when its deny is conditioned with `BoolIfExists` (the key has no MFA
        context) rather than `Bool` (DESIGN, "MFA enforcement must not touch access keys")."""
        if self.mfa_arn not in state.policies:
            return False
        return "BoolIfExists" in self.current_mfa_document()

    def current_mfa_document(self) -> str:
        """The require-MFA policy's default version, as IAM holds it (the document AWS would evaluate)."""
        policy: Any = iam_backends[self.acct]["global"].managed_policies.get(self.mfa_arn)
        if policy is None:
            return ""
        for version in policy.versions:
            if version.version_id == policy.default_version_id:
                return str(version.document)
        return ""

    def read_secret(self, user: str) -> str | None:
        """What a workload reads from the user's handover secret: the key id it holds (None: no secret)."""
        from credlife.aws.secrets import secret_name_for

        try:
            value = self.sm.get_secret_value(SecretId=secret_name_for(SECRET_PREFIX, user))["SecretString"]
        except self.sm.exceptions.ResourceNotFoundException:
            return None
        except Exception:  # a deleted or unreadable secret
            return None
        data = json.loads(value)
        return str(data.get("AccessKeyId")) if data.get("AccessKeyId") else None

    # -- invariant checks ------------------------------------------------------------------------------

    def violation(self, day: int, credential: str, invariant: str, evidence: str, cls: str = "?") -> None:
        signature = (invariant, credential)
        if signature in self.reported:
            return
        self.reported.add(signature)
        if self.plan is not None and self.plan.injected:
            evidence += f" [faults this run: {dict(self.plan.injected)}"
            evidence += f", stopped after {self.plan.stopped_at}]" if self.plan.stopped_at else "]"
        self.result.violations.append(
            Violation(self.seed, self.index, self.acct, day, credential, invariant, evidence, cls)
        )

    def _notices_for(self, credential: str, cred_id: str | None, user: str) -> list[Notice]:
        return [
            n
            for n in self.notices
            if n.user == user and n.names(credential, cred_id) and (n.live or self.account.dry_run)
        ]

    def check_run(
        self,
        day: int,
        now: datetime,
        before: dict[str, observe.UserState],
        after: dict[str, observe.UserState],
        response: dict[str, Any],
        stopped: bool,
        plan: faults.FaultPlan,
        *,
        probe: bool = False,
    ) -> None:
        """Every invariant after one run (`probe`: the clock probe's run, whose refusal is no failure)."""
        checks = self.result.checks
        # what went out during the run
        new_mail = observe.new_emails(self.acct, self.emails_seen)
        self.emails_seen += len(new_mail)
        for _, raw in new_mail:
            self.notices.extend(observe.parse_email(raw, now))
        topic = observe.topic_messages(self.acct, self.topic)
        new_topic, self.topic_seen = topic[self.topic_seen :], len(topic)
        logs = self.tap.drain() if self.tap is not None else ""
        stamp = now.astimezone(UTC).isoformat()[:19]
        audit = observe.audit_rows(
            observe.table_items(self.acct, TABLE, partitions=("AUDIT#",), since=stamp), self.acct, now
        )
        full = day % 10 == 0 or day == self.days - 1
        items = observe.table_items(self.acct, TABLE) if full else []
        changes = observe.diff(before, after, self.mfa_arn)
        for change in changes:
            if change.kind == "create_key" and change.cred_id:
                self.created[change.cred_id] = (change.user, day)
        self.secrets |= set(observe.key_secrets(self.acct)) | set(plan.created_secrets)

        # (d) exempt users, and dry-run accounts
        for change in changes:
            checks["d"] += 1
            if change.user in self.exempt:
                self.violation(day, change.label(), "d", f"exempt user changed: {change.kind}", "safety")
            elif self.account.dry_run and change.kind != "lift_mfa":
                self.violation(day, change.label(), "d", f"dry-run account changed: {change.kind}", "safety")

        for change in changes:
            if change.disruptive and change.user not in self.exempt:
                self.check_disruptive(day, now, change, plan)
            if change.kind in {"deactivate", "delete"} and change.cred_id:
                self.project_disabled.add(change.cred_id)
                if change.kind == "deactivate":
                    self.seen_inactive.add(change.cred_id)
            if change.kind != "lift_mfa" and change.user not in self.exempt:
                self.check_audited(day, change, audit, stopped)
        for state in after.values():
            self.seen_inactive |= {k for k, s in state.keys.items() if s == "Inactive"}

        # (f) no secret in any output
        outputs = {
            "logs": logs,
            "ses": "\n".join(raw for _, raw in new_mail),
            "sns": "\n".join(new_topic),
            "response": json.dumps(response, default=str),
            "audit": json.dumps(audit, default=str),
        }
        if full:  # the whole table now and then (audit rows are checked every run above)
            outputs["table"] = json.dumps(items, default=str)
        for where, text in outputs.items():
            checks["f"] += 1
            for secret in self.secrets:
                at = text.find(secret)
                if at >= 0:
                    context = text[max(0, at - 120) : at + len(secret) + 40].replace(secret, "<THE SECRET>")
                    self.violation(
                        day,
                        f"secret of {self.secrets_owner(secret)}",
                        "f",
                        f"a SecretAccessKey appears in {where}: ...{context!r}...",
                        "7",
                    )

        # (e), (h) after faults cleared
        if self.quiet_runs >= CONVERGE_RUNS:
            self.check_converged(day, after, {} if probe else response)

    def secrets_owner(self, secret: str) -> str:
        return observe.key_secrets(self.acct).get(secret, "a deleted key")

    def check_disruptive(self, day: int, now: datetime, change: Change, plan: faults.FaultPlan) -> None:
        checks = self.result.checks
        checks["a"] += 1
        credential, cred_id = change.credential, change.cred_id
        if change.kind == "delete_password":
            candidates = self._notices_for("password", None, change.user) + self._notices_for(
                "mfa", None, change.user
            )
            wanted = {"delete"}
        elif change.kind == "enforce_mfa":
            candidates = self._notices_for("mfa", None, change.user)
            wanted = {"enforce"}
        else:
            candidates = self._notices_for(credential, cred_id, change.user)
            wanted = {"delete"} if change.kind in {"delete", "ssh_delete"} else {"deactivate"}
        # a key the project made and never handed over may be undone without notice
        if credential == "access_key" and cred_id in self.created and not self.uses.get(cred_id):
            told = any(n.new_key == cred_id or n.cred_id == cred_id for n in self.notices)
            if not told:
                return
        since = self.reactivated.get((credential, cred_id))
        window = now - timedelta(days=EPISODE_DAYS)
        valid = [
            n
            for n in candidates
            if n.announces in wanted and n.sent >= window and (since is None or n.sent > since)
        ]
        early_enough = [
            n for n in valid if n.sent <= now - timedelta(days=NOTICE_DAYS) + timedelta(minutes=1)
        ]
        label = change.label()
        if not early_enough:
            siblings = [
                n
                for n in self.notices
                if n.user == change.user and n.credential == credential and n.cred_id != cred_id
            ]
            announced = "; ".join(f"{n.sent:%Y-%m-%d} {n.title[:90]}" for n in valid) or "no notice delivered"
            why = f"{change.kind} on day {day}; notices naming it: {announced}"
            if since is not None:
                why += f"; the owner re-activated it at {since:%Y-%m-%d %H:%M}"
            invariant = "c" if credential == "access_key" and siblings and not candidates else "a"
            self.violation(day, label, invariant, why, self.classify(change, now, valid, since))
            return
        # (b) a key in use: not before the delivered deadline, and not after a use the warning asked for
        if credential in {"access_key", "password"} and change.kind in {
            "deactivate",
            "delete",
            "delete_password",
        }:
            checks["b"] += 1
            used = (
                self.uses.get(cred_id or "", [])
                if credential == "access_key"
                else self.sign_ins.get(change.user, [])
            )
            recent = [u for u in used if now - timedelta(days=RECENT_USE_DAYS) <= u <= now]
            latest = max(valid, key=lambda n: n.sent)
            if recent and latest.deadline is not None and now < latest.deadline - timedelta(minutes=1):
                self.violation(
                    day,
                    label,
                    "b",
                    f"{change.kind} on {now:%Y-%m-%d} although used {max(recent):%Y-%m-%d %H:%M} and the "
                    f"owner was told {latest.deadline:%Y-%m-%d %H:%M} ({latest.title[:80]})",
                    "5" if max(recent) > now - timedelta(hours=REPORT_LAG_HOURS) else "2",
                )
            elif latest.unused and any(u > latest.sent for u in used):
                self.violation(
                    day,
                    label,
                    "b",
                    f"{change.kind} as unused although used {max(used):%Y-%m-%d %H:%M}, after the warning of "
                    f"{latest.sent:%Y-%m-%d} that asked for exactly that",
                    "5",
                )

    def classify(
        self, change: Change, now: datetime, delivered: list[Notice], reactivated: datetime | None
    ) -> str:
        """Which defect class of issue 12 a missing or late notice points at (a hint for the report)."""
        if change.kind == "enforce_mfa":
            return "4"
        if reactivated is not None:
            return "2"  # the owner's "still needed" was not honoured
        if any(n.deadline and n.deadline - n.sent < timedelta(days=NOTICE_DAYS) for n in delivered):
            return "1"  # delivered late, with the deadline it had when it was recorded
        if any("replaced" in n.title or "was rotated" in n.title for n in delivered):
            return "2"  # retired early as "replaced"
        recorded = [
            r
            for r in observe.audit_rows(
                observe.table_items(self.acct, TABLE, partitions=("AUDIT#",)), self.acct, EPOCH
            )
            if r["phase"] == "result"
            and r["action"].get("user") == change.user
            and r["action"].get("action") in {"warn", "rotate"}
            and r["outcome"] in {"applied", "dry_run"}
            and (change.cred_id is None or r["action"].get("key_id") == change.cred_id)
        ]
        if recorded:
            return "1"  # the project recorded a notice the owner never received (in time)
        return "?"

    def check_audited(self, day: int, change: Change, audit: list[dict[str, Any]], stopped: bool) -> None:
        """(g): an intent row and a result row of this run name the changed credential."""
        self.result.checks["g"] += 1

        def names(row: dict[str, Any]) -> bool:
            action = row["action"]
            if action.get("user") != change.user:
                return False
            if change.kind == "create_key":
                return action.get("action") == "rotate" or (change.cred_id or "") in json.dumps(row)
            if change.cred_id:
                return change.cred_id in json.dumps(row)
            return action.get("credential") == change.credential or (
                change.kind == "delete_password" and action.get("credential") in {"password", "mfa"}
            )

        def undoes(row: dict[str, Any]) -> bool:
            """The intent of undoing (or finishing) a rotation of this user: it names the rotation (the
            old key), while the key it removes is only known, and named, in its result."""
            action = row["action"]
            return action.get("user") == change.user and "rot" in str(action.get("action"))

        made_here = change.kind == "delete" and change.cred_id in self.created
        intents = [r for r in audit if r["phase"] == "intent" and (names(r) or (made_here and undoes(r)))]
        results = [r for r in audit if r["phase"] == "result" and names(r)]
        if change.kind == "create_key":
            results = [r for r in results if (change.cred_id or "") in json.dumps(r)]
        missing = [p for p, rows in (("intent", intents), ("result", results)) if not rows]
        if stopped:
            missing = [m for m in missing if m == "intent"]
        if missing:
            self.violation(
                day,
                change.label(),
                "g",
                f"{change.kind} without its {' and '.join(missing)} audit row"
                + (" (run stopped)" if stopped else ""),
                "3" if change.kind == "create_key" else "audit",
            )

    def check_converged(
        self, day: int, state: dict[str, observe.UserState], response: dict[str, Any]
    ) -> None:
        checks = self.result.checks
        holds = self.secret_holdings()
        for user, key_id in holds.items():
            checks["e"] += 1
            if key_id is None:
                continue
            exists = key_id in state.get(user, observe.UserState({}, False, frozenset(), {}, False)).keys
            if not exists and key_id not in self.seen_inactive:
                self.violation(
                    day,
                    f"{user} access_key {key_id}",
                    "e",
                    "the handover secret points at a key that was deleted without ever being inactive",
                    "3",
                )
        for key_id, (user, created_day) in self.created.items():
            checks["e"] += 1
            status = state.get(user, observe.UserState({}, False, frozenset(), {}, False)).keys.get(key_id)
            newest = max(
                (k for k, (u, _) in self.created.items() if u == user), key=lambda k: self.created[k][1]
            )
            if status == "Active" and key_id == newest and holds.get(user) != key_id:
                self.violation(
                    day,
                    f"{user} access_key {key_id}",
                    "e",
                    f"the key created on day {created_day} is active but its secret holds {holds.get(user)}",
                    "3",
                )
        # (h) the run itself is clean again, and nothing is stuck in the outbox
        checks["h"] += 1
        if response.get("status") not in {"ok", None} and self.quiet_runs == CONVERGE_RUNS + 1:
            self.violation(
                day,
                "run",
                "h",
                f"{self.quiet_runs} quiet runs and still failing: {json.dumps(response, default=str)}"[:600],
            )
        for user, st in state.items():
            if self.mfa_arn in st.policies and (st.mfa or not st.password) and user not in self.exempt:
                self.violation(
                    day,
                    f"{user} mfa",
                    "h",
                    "require-MFA policy still attached although "
                    + ("MFA is on" if st.mfa else "no console password"),
                    "4",
                )
        if self.quiet_runs != CONVERGE_RUNS + 1:
            return  # once per quiet stretch is enough for the outbox
        pending = [
            i
            for i in observe.table_items(self.acct, TABLE, partitions=("OUTBOX#",))
            if "delivered_at" not in i
        ]
        stuck = [
            i
            for i in pending
            if i.get("created_at", {}).get("S", "9")
            < (EPOCH + timedelta(days=day - CONVERGE_RUNS)).isoformat()
        ]
        if stuck:
            self.violation(
                day, "outbox", "h", f"{len(stuck)} outbox item(s) still undelivered after quiet runs", "1"
            )

    def secret_holdings(self) -> dict[str, str | None]:
        """User → the key id its handover secret holds now (for users with a secret)."""
        from credlife.aws.secrets import user_name_from_secret

        found: dict[str, str | None] = {}
        for listed in self.sm.list_secrets().get("SecretList", []):
            name = listed["Name"]
            if not name.startswith(SECRET_PREFIX + "/"):
                continue
            user = user_name_from_secret(SECRET_PREFIX, name)
            found[user] = self.read_secret(user)
        return found

    def workload_broke(self, workload: Workload, day: int, now: datetime, lost: str, denied: bool) -> None:
        """(i): a workload has no working key left: only after a deadline delivered for the key it lost,
        and never because the key it was told to fetch is not there."""
        self.result.checks["i"] += 1
        if not denied and (lost in self.owner_changed or lost not in self.project_disabled):
            return  # lost by the owner's hand, or never working in the first place
        user = workload.user
        label = f"{user} access_key {lost}"
        if denied:
            self.violation(
                day,
                label,
                "i",
                f"workload {workload.name} denied: the require-MFA policy (BoolIfExists) blocks its "
                "access key",
                "4",
            )
            return
        told = [
            n
            for n in self._notices_for("access_key", lost, user)
            if n.announces in {"deactivate", "delete"}
            and n.deadline is not None
            and n.deadline <= now + timedelta(minutes=1)
        ]
        since = self.reactivated.get(("access_key", lost))
        if since is not None:
            told = [n for n in told if n.sent > since]
        if not told:
            given = sorted(
                f"{n.deadline:%Y-%m-%d %H:%M} (told {n.sent:%Y-%m-%d})"
                for n in self._notices_for("access_key", lost, user)
                if n.announces in {"deactivate", "delete"} and n.deadline is not None
            )
            self.violation(
                day,
                label,
                "i",
                f"workload {workload.name} lost its last working key on {now:%Y-%m-%d}; deadlines delivered: "
                f"{', '.join(given) or 'none'}",
                "2" if since or given else "1",
            )
            return
        # the owner was told this key was replaced by one in the secret: the secret must give a working key
        handed = [n for n in self.notices if n.user == user and n.cred_id == lost and n.new_key]
        if handed and workload.reads_secret:
            self.violation(
                day,
                label,
                "i",
                f"workload {workload.name} was told to fetch {handed[-1].new_key} from the secret, which "
                "gives no working key",
                "3",
            )

    def stray_event(self, day: int, now: datetime) -> None:
        """The clock probe: an event whose time is 200 days behind the real clock must be refused: no IAM
        change, no state written, no email. (Whatever it did do is checked like any run's doing.)"""
        self.result.checks["clock"] += 1
        before = observe.iam_state(self.acct)
        items_before = observe.table_size(self.acct, TABLE)
        mails = observe.email_count(self.acct)
        stray = now - timedelta(days=200)
        plan = self.plan = faults.FaultPlan(rng=random.Random(0))
        response, stopped = self.invoke(now, plan, event_time=stray)
        after = observe.iam_state(self.acct)
        written = observe.table_size(self.acct, TABLE) - items_before
        sent = observe.email_count(self.acct) - mails
        if before != after or written or sent:
            self.violation(
                day,
                "run clock",
                "clock",
                f"event time {stray:%Y-%m-%d} with the real clock at {now:%Y-%m-%d}: status "
                f"{response.get('status')}, {written} state item(s), {sent} email(s), "
                f"IAM {'changed' if before != after else 'unchanged'}",
                "6",
            )
        self.check_run(day, now, before, after, response, stopped, plan, probe=True)


def _set_used(account_id: str, user: str, key_id: str, at: datetime) -> None:
    users = iam_backends[account_id]["global"].users
    stored = users.get(user)
    if stored is None:
        return
    for key in stored.access_keys:
        if key.access_key_id == key_id and key.status == "Active":
            previous = getattr(key.last_used, "timestamp", None) if key.last_used else None
            stamp = world.naive(at)
            if previous is None or previous < stamp:
                key.last_used = AccessKeyLastUsed(timestamp=stamp, service="s3", region=REGION)
