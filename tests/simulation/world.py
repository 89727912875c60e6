"""The simulated accounts: who exists, with which credentials, and how each credential is used.

Everything here is drawn from one `random.Random` per account (seeded by the run's seed and the account's
index), so an account is rebuilt identically from `(seed, index)`. Seeding goes through moto's stored state
where that is faster than the API (DESIGN §6): keys are created with the API, then their `create_date` and
`last_used` are set on `moto.iam.models.iam_backends[account]["global"].users[name].access_keys[i]`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.iam.models import AccessKeyLastUsed, iam_backends

REGION = "us-east-1"
#: Day 0 of every simulated calendar (the scheduled run's time each day). Late enough that no real clock
#: of a test host is needed: every run moves the clock there with time-machine.
EPOCH = datetime(2027, 3, 1, 6, 0, tzinfo=UTC)
SENDER = "credlife@example.com"
SECURITY_EMAIL = "security@example.com"
EXEMPT_TAG = "credlife:exempt"
BREAK_GLASS = "breakglass-admin"
MANAGED_PATHS = ("/people/", "/service/")
#: A syntactically valid SSH public key body (moto checks the format only).
SSH_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDlhDoNr0WyH3mdtCt6BqDnDRRWb3BSWs9GSoBwv1hvKRPSUbdG8OcYcIDOPrm2d"
    "8ufXAyqYQUsjLdGiUEEjIsHqpmpsN1oUBpzIpo7ajV8tDyvGxQxcKR2bXzUH8VDGVGzjULVDVHvVWqjn4j0n5Y2WGMQDrbKRRc"
    "6U2W2cbc7Smkh1NzEHUq6MCMxhrAB1bSXt0wWsJFajfv6Mm1a1JaHCtfvFyfcSZyl9lJ9IFi8hVGfXAqSNTVkFhV4nUFTEAmoh"
    "PVQ0cmbaK3lxzkIk3NunVJ0nxaOSuvygWFrqOCpUAuwzDBZvWr6E3Bmd5LcAJvvfLzj2D4Qvg0nWtuZN sim@example"
)
#: Characters IAM allows in user names besides letters and digits: every one of them appears in names.
ODD = "+=,.@_-"

#: Workload habits. daily / weekly: the same key at their own pace, switching to the handed-over key some
#: days after it appears in the secret; fleet: several hosts at different hours, each switching on its own
#: day; sticky: the old key until it stops working, then the secret; stubborn: never reads the secret;
#: resume: idle for a while, then daily again (uses a key that was warned as unused); idle: never.
HABITS = ("daily", "weekly", "fleet", "sticky", "stubborn", "resume", "idle")


@dataclass
class Host:
    """One machine of a workload: the key it signs with, and at which hour before the run it calls."""

    key_id: str | None
    hours_before: float
    #: Days after a new key shows up in the secret before this host switches to it (None: only when its
    #: key stops working).
    switch_after: int | None
    #: The first day this host saw the secret's current key (to count `switch_after` from).
    seen: dict[str, int] = field(default_factory=dict)


@dataclass
class Workload:
    name: str
    user: str
    habit: str
    hosts: list[Host]
    period: int = 1
    phase: int = 0
    resume_day: int = 0
    reads_secret: bool = True
    #: day → the key the workload lost that day (no working key left).
    broken: dict[int, str] = field(default_factory=dict)

    def active_on(self, day: int) -> bool:
        if self.habit == "idle":
            return False
        if self.habit == "resume" and day < self.resume_day:
            return False
        return (day - self.phase) % self.period == 0


@dataclass
class SimUser:
    name: str
    path: str
    tags: dict[str, str]
    owner: str
    kind: str  # what the generator meant it to be (for reports)
    exempt: bool = False
    console: bool = False
    #: The day the user signs in with the password each day from (None: never signs in).
    signs_in_daily: bool = False
    #: The day the owner enables MFA after the first MFA notice (None: never).
    mfa_after_notice: int | None = None
    ssh: bool = False


@dataclass
class SimAccount:
    index: int
    account_id: str
    seed: int
    dry_run: bool
    users: list[SimUser]
    workloads: list[Workload]
    #: Owner behaviour, per day probabilities.
    p_reactivate: float = 0.6
    p_second_key: float = 0.01
    p_delete_inactive: float = 0.02
    spec: list[dict[str, Any]] = field(default_factory=list)

    def user(self, name: str) -> SimUser:
        return next(u for u in self.users if u.name == name)


def naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def account_id_for(index: int) -> str:
    return f"{200000000000 + index:012d}"


def odd_name(rng: random.Random, base: str) -> str:
    """A user name with some of IAM's odd characters (`+ = , . @ _ -`), unique by `base`."""
    picks = rng.sample(ODD, rng.randint(1, 3))
    parts = [base]
    for char in picks:
        parts.append(char + rng.choice(["ci", "x", "prod", "a1", "eu"]))
    return "".join(parts)[:64]


def generate(seed: int, index: int, *, dry_run: bool) -> SimAccount:
    """One small account (4 to 7 users) drawn from `(seed, index)`."""
    rng = random.Random(f"{seed}:{index}")
    users: list[SimUser] = []
    workloads: list[Workload] = []
    spec: list[dict[str, Any]] = []
    count = rng.randint(4, 7)
    kinds = ["keys"] * 6 + ["two_keys"] * 2 + ["console"] * 2 + ["console_keys", "ssh", "exempt"]
    for n in range(count):
        kind = rng.choice(kinds)
        base = f"u{n}"
        name = odd_name(rng, base) if rng.random() < 0.5 else f"{base}.{rng.choice(['ana', 'svc', 'ops'])}"
        path = rng.choice(MANAGED_PATHS)
        owner = f"owner{n}.{index}@example.com"
        tags = {"owner": owner}
        user = SimUser(name=name, path=path, tags=tags, owner=owner, kind=kind)
        entry: dict[str, Any] = {"user": name, "kind": kind, "path": path, "keys": []}
        if kind == "exempt":
            how = rng.choice(["tag", "path", "break_glass"])
            user.exempt = True
            entry["exempt"] = how
            if how == "tag":
                tags[EXEMPT_TAG] = "true"
            elif how == "path":
                user.path = entry["path"] = "/system/legacy/"
            else:
                user.name = entry["user"] = (
                    BREAK_GLASS if BREAK_GLASS not in [u.name for u in users] else name
                )
                if user.name != BREAK_GLASS:
                    tags[EXEMPT_TAG] = "yes"
            entry["keys"] = [_key_spec(rng)]
            if rng.random() < 0.5:
                user.console = True
        elif kind in {"keys", "console_keys"}:
            entry["keys"] = [_key_spec(rng)]
        elif kind == "two_keys":
            entry["keys"] = [_key_spec(rng), _key_spec(rng)]
        if kind in {"console", "console_keys"}:
            user.console = True
        if user.console:
            user.signs_in_daily = rng.random() < 0.6
            entry["console"] = {
                "created_ago": rng.randint(1, 400),
                "used_ago": None if rng.random() < 0.2 else rng.randint(0, 120),
                "mfa": rng.random() < 0.35,
            }
            if not entry["console"]["mfa"] and rng.random() < 0.5:
                user.mfa_after_notice = rng.randint(0, 10)
        if kind == "ssh":
            user.ssh = True
            entry["ssh_age"] = rng.randint(0, 150)
        users.append(user)
        spec.append(entry)
        for k, key in enumerate(entry["keys"]):
            workloads.append(_workload(rng, user.name, f"{user.name}#w{k}", key))
    return SimAccount(
        index=index,
        account_id=account_id_for(index),
        seed=seed,
        dry_run=dry_run,
        users=users,
        workloads=workloads,
        p_reactivate=rng.choice([0.0, 0.5, 0.9]),
        p_second_key=rng.choice([0.0, 0.01, 0.03]),
        p_delete_inactive=rng.choice([0.0, 0.03]),
        spec=spec,
    )


def _key_spec(rng: random.Random) -> dict[str, Any]:
    habit = rng.choice(HABITS)
    age = rng.choice([rng.randint(0, 60), rng.randint(60, 100), rng.randint(100, 400)])
    if habit in {"idle", "resume"}:
        used_ago: int | None = None if rng.random() < 0.3 else rng.randint(10, 200)
    else:
        used_ago = rng.randint(0, 3)
    if used_ago is not None:
        used_ago = min(used_ago, age)
    return {
        "age": age,
        "used_ago": used_ago,
        "active": rng.random() < 0.9,
        "habit": habit,
        "resume_day": rng.randint(3, 60),
    }


def _workload(rng: random.Random, user: str, name: str, key: dict[str, Any]) -> Workload:
    habit = key["habit"]
    count = rng.randint(2, 4) if habit == "fleet" else 1
    hosts = []
    for _ in range(count):
        if habit == "sticky":
            switch: int | None = None
        elif habit == "fleet":
            switch = rng.randint(0, 12)
        else:
            switch = rng.randint(0, 5)
        hosts.append(Host(key_id=None, hours_before=rng.uniform(0.5, 20), switch_after=switch))
    return Workload(
        name=name,
        user=user,
        habit=habit,
        hosts=hosts,
        period=7 if habit == "weekly" else 1,
        phase=rng.randint(0, 6),
        resume_day=key["resume_day"],
        reads_secret=habit != "stubborn",
    )


# -- seeding into moto ---------------------------------------------------------------------------------


def seed(account: SimAccount, iam: Any, *, mfa_policy_document: str) -> str:
    """Create the account's users and credentials in moto (API plus stored state); returns the ARN of
    the require-MFA policy created for the account."""
    backend = iam_backends[account.account_id]["global"]
    workloads = {w.name: w for w in account.workloads}
    for user, entry in zip(account.users, account.spec, strict=True):
        iam.create_user(
            UserName=user.name,
            Path=user.path,
            Tags=[{"Key": k, "Value": v} for k, v in user.tags.items()],
        )
        stored: Any = backend.users[user.name]
        stored.create_date = naive(EPOCH - timedelta(days=1000))
        for k, key in enumerate(entry["keys"]):
            created = iam.create_access_key(UserName=user.name)["AccessKey"]
            key_id = created["AccessKeyId"]
            if not key["active"]:
                iam.update_access_key(UserName=user.name, AccessKeyId=key_id, Status="Inactive")
            moto_key = stored.access_keys[-1]
            # unique per user to the second (the project identifies keys by creation time)
            moto_key.create_date = naive(EPOCH - timedelta(days=key["age"], seconds=k * 37))
            if key["used_ago"] is not None:
                moto_key.last_used = AccessKeyLastUsed(
                    timestamp=naive(EPOCH - timedelta(days=key["used_ago"], hours=2)),
                    service="s3",
                    region=REGION,
                )
            for host in workloads[f"{user.name}#w{k}"].hosts:
                host.key_id = key_id
        console = entry.get("console")
        if console:
            iam.create_login_profile(UserName=user.name, Password="Sim-Password-0!x")
            stored.create_date = naive(EPOCH - timedelta(days=console["created_ago"]))
            stored.password_last_used = (
                None if console["used_ago"] is None else naive(EPOCH - timedelta(days=console["used_ago"]))
            )
            if console["mfa"]:
                enable_mfa(iam, user.name)
        if entry.get("ssh_age") is not None:
            uploaded = iam.upload_ssh_public_key(UserName=user.name, SSHPublicKeyBody=SSH_KEY)
            ssh_id = uploaded["SSHPublicKey"]["SSHPublicKeyId"]
            for ssh in stored.ssh_public_keys:
                if ssh.ssh_public_key_id == ssh_id:
                    ssh.upload_date = naive(EPOCH - timedelta(days=entry["ssh_age"]))
    policy = iam.create_policy(PolicyName="credlife-require-mfa", PolicyDocument=mfa_policy_document)
    return str(policy["Policy"]["Arn"])


def enable_mfa(iam: Any, user: str) -> None:
    safe = "".join(c if c.isalnum() else "-" for c in user)
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{safe}-phone")["VirtualMFADevice"][
        "SerialNumber"
    ]
    iam.enable_mfa_device(
        UserName=user, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
