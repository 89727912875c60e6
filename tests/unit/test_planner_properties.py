"""Property tests over random accounts (hypothesis): the planner's safety rules hold for any input.

Two levels: single plans over random snapshots (with random recorded state), and a day-by-day simulation
where the plan is applied to an in-memory account for 200 days, so the rules are checked over whole
lifecycles (notice before every disruptive action, two-key quota, per-key targeting)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credlife.domain.actions import Action, ActionKind, Reason
from credlife.domain.models import AccessKey, AccountSnapshot, KeyRecord, KeyStatus, Notice, User, key_ref
from credlife.domain.planner import exemption, plan
from credlife.domain.policy import Policy
from tests.builders import ACCOUNT, NOW, days


def delivered(notice: Notice) -> Notice:
    """A notice its owner received when it was recorded."""
    return replace(notice, delivered_at=notice.sent_at)


NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789+=,.@_-", min_size=1, max_size=12)


@st.composite
def keys(draw: st.DrawFn) -> AccessKey:
    age = draw(st.floats(min_value=0, max_value=400))
    used = draw(st.one_of(st.none(), st.floats(min_value=0, max_value=age)))
    return AccessKey(
        created=NOW - days(age),
        status=draw(st.sampled_from(list(KeyStatus))),
        last_used=None if used is None else NOW - days(used),
        key_id=draw(st.one_of(st.none(), st.just("AKIA"))),
    )


@st.composite
def records_for(draw: st.DrawFn, name: str, k: AccessKey) -> KeyRecord | None:
    if not draw(st.booleans()):
        return None
    notices = tuple(
        delivered(
            Notice(
                warns_of=draw(st.sampled_from(["rotate", "deactivate", "delete"])),
                stage=draw(st.sampled_from(["14d", "7d", "1d", "notice"])),
                sent_at=NOW - days(draw(st.floats(min_value=0, max_value=60))),
                deadline=NOW + days(draw(st.floats(min_value=-30, max_value=30))),
                dry_run=draw(st.booleans()),
            )
        )
        for _ in range(draw(st.integers(min_value=0, max_value=3)))
    )
    inactive_since = draw(st.one_of(st.none(), st.floats(min_value=0, max_value=100)))
    return KeyRecord(
        user=name,
        key_created=k.created,
        notices=notices,
        deactivated_at=None if inactive_since is None or k.active else NOW - days(inactive_since),
        first_seen_inactive=None if k.active else NOW - days(draw(st.floats(min_value=0, max_value=100))),
    )


@st.composite
def accounts(draw: st.DrawFn) -> AccountSnapshot:
    users: list[User] = []
    records: dict[str, KeyRecord] = {}
    for name in draw(st.lists(NAMES, min_size=1, max_size=8, unique=True)):
        user_keys = draw(st.lists(keys(), max_size=2, unique_by=lambda k: k.created))
        tags = draw(
            st.sampled_from([{}, {"credlife:exempt": "true"}, {"credlife:exempt": "false"}, {"team": "x"}])
        )
        path = draw(st.sampled_from(["/", "/people/", "/system/"]))
        users.append(
            User(
                name=name,
                arn=f"arn:aws:iam::{ACCOUNT}:user{path}{name}",
                path=path,
                tags=tags,
                access_keys=tuple(user_keys),
            )
        )
        for k in user_keys:
            record = draw(records_for(name, k))
            if record is not None:
                records[key_ref(name, k.created)] = record
    return AccountSnapshot(ACCOUNT, NOW, tuple(users), records)


POLICIES = st.builds(
    Policy,
    dry_run=st.booleans(),
    path_prefixes=st.sampled_from([("/",), ("/people/",), ("/", "/system/")]),
    break_glass_users=st.sampled_from([(), ("a",), ("b", "c")]),
)


def by_user(actions: list[Action]) -> dict[str, list[Action]]:
    grouped: dict[str, list[Action]] = {}
    for a in actions:
        grouped.setdefault(a.user, []).append(a)
    return grouped


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(snapshot=accounts(), policy=POLICIES)
def test_single_plan_safety(snapshot: AccountSnapshot, policy: Policy) -> None:
    actions = plan(snapshot, policy, NOW)
    users = {u.name: u for u in snapshot.users}
    grouped = by_user(actions)
    for name, rows in grouped.items():
        u = users[name]
        own = {k.created: k for k in u.access_keys}
        # never acts on an exempt user: its only row is the audited exemption
        if exemption(u, policy) is not None:
            assert [r.action for r in rows] == [ActionKind.EXEMPT]
            continue
        # never more than 2 keys: a rotation only where the quota has room after this plan's deletions
        deletes = sum(r.action is ActionKind.DELETE for r in rows)
        rotates = sum(r.action is ActionKind.ROTATE for r in rows)
        assert len(u.access_keys) - deletes + rotates <= 2
        for r in rows:
            # every action targets one of this user's own keys, the very one its reason applies to
            assert r.key_created in own
            target = own[r.key_created]
            if r.action is ActionKind.DELETE:
                assert not target.active, "never deletes an active key"
            if r.action is ActionKind.DEACTIVATE:
                assert target.active
            if r.action is ActionKind.ROTATE:
                assert target.active
                assert NOW - target.created >= days(policy.rotate_after_days)
            if r.reason is Reason.KEY_UNUSED and r.action is ActionKind.DEACTIVATE:
                idle_since = target.last_used or target.created
                assert NOW - idle_since >= days(min(policy.unused_after_days, policy.never_used_after_days))
            if r.action in (ActionKind.DEACTIVATE, ActionKind.DELETE):
                record = snapshot.records.get(key_ref(name, target.created))
                assert record is not None
                assert any(n.warns_of == r.action.value and n.sent_at < NOW for n in record.notices), (
                    "no disruptive action without a prior notice"
                )
            # never acts in dry-run
            assert r.dry_run is policy.dry_run
    for name in grouped:
        assert name in users


# -- day-by-day simulation ------------------------------------------------------------------------------


@dataclass
class SimKey:
    created: datetime
    active: bool = True
    last_used: datetime | None = None
    deleted: bool = False


@dataclass
class SimUser:
    name: str
    habit: str  # "current": uses its newest active key daily; "old": keeps using the oldest; "idle"
    keys: list[SimKey] = field(default_factory=list)


HABITS = st.sampled_from(["current", "old", "idle"])


@st.composite
def sim_accounts(draw: st.DrawFn) -> list[SimUser]:
    users = []
    for i in range(draw(st.integers(min_value=1, max_value=5))):
        u = SimUser(f"u{i}", draw(HABITS))
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            age = draw(st.integers(min_value=0, max_value=200))
            created = NOW - days(age) + days(i * 0.001) + days(len(u.keys) * 0.0001)
            u.keys.append(SimKey(created, active=draw(st.booleans())))
        users.append(u)
    return users


def to_snapshot(users: list[SimUser], records: dict[str, KeyRecord], now: datetime) -> AccountSnapshot:
    domain_users = tuple(
        User(
            name=u.name,
            arn=f"arn:aws:iam::{ACCOUNT}:user/{u.name}",
            access_keys=tuple(
                AccessKey(k.created, KeyStatus.ACTIVE if k.active else KeyStatus.INACTIVE, k.last_used)
                for k in u.keys
                if not k.deleted
            ),
        )
        for u in users
    )
    return AccountSnapshot(ACCOUNT, now, domain_users, records)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(users=sim_accounts())
def test_whole_lifecycles_respect_notice_and_quota(users: list[SimUser]) -> None:
    policy = Policy(dry_run=False)
    records: dict[str, KeyRecord] = {}
    for day in range(200):
        now = NOW + days(day)
        for u in users:  # the workloads use their keys
            live = [k for k in u.keys if not k.deleted and k.active]
            if live and u.habit != "idle":
                chosen = (
                    max(live, key=lambda k: k.created)
                    if u.habit == "current"
                    else min(live, key=lambda k: k.created)
                )
                chosen.last_used = now - days(0.01)
        for u in users:  # first sightings of inactive keys start their clocks
            for k in u.keys:
                ref = key_ref(u.name, k.created)
                if not k.deleted and not k.active and ref not in records:
                    records[ref] = KeyRecord(u.name, k.created, first_seen_inactive=now)
        actions = plan(to_snapshot(users, records, now), policy, now)
        sims = {u.name: u for u in users}
        for a in sorted(actions, key=lambda a: a.action is not ActionKind.DELETE):
            u = sims[a.user]
            target = next(k for k in u.keys if not k.deleted and k.created == a.key_created)
            ref = key_ref(u.name, target.created)
            record = records.get(ref, KeyRecord(u.name, target.created))
            if a.action in (ActionKind.DEACTIVATE, ActionKind.DELETE):
                told = [n for n in record.notices if n.warns_of == a.action.value]
                assert told, f"{a.action} without notice on day {day}"
                if a.reason is not Reason.KEY_REPLACED_SAFE:
                    assert now - min(n.sent_at for n in told) >= days(policy.notice_days)
            if a.action is ActionKind.WARN:
                assert a.deadline is not None
                assert a.deadline >= now
                assert a.warns_of is not None
                records[ref] = replace(
                    record,
                    notices=(
                        *record.notices,
                        Notice(a.warns_of.value, a.stage or "", now, a.deadline, delivered_at=now),
                    ),
                )
            elif a.action is ActionKind.ROTATE:
                new = SimKey(now)
                u.keys.append(new)
                # like the executor: the rotation message is the first notice of the old key's deactivation
                assert a.warns_of is ActionKind.DEACTIVATE
                assert a.stage is not None
                assert a.deadline is not None
                announced = Notice(a.warns_of.value, a.stage, now, a.deadline, delivered_at=now)
                records[ref] = replace(
                    record,
                    rotated_at=now,
                    replacement_created=new.created,
                    notices=(*record.notices, announced),
                )
            elif a.action is ActionKind.DEACTIVATE:
                assert target.active
                target.active = False
                records[ref] = replace(record, deactivated_at=now, deactivation_reason=a.reason.value)
            elif a.action is ActionKind.DELETE:
                assert not target.active
                target.deleted = True
            assert sum(not k.deleted for k in u.keys) <= 2, "more than two keys"
    # and the lifecycle converges: no active key older than rotation + the retirement window stays in use
    for u in users:
        for k in u.keys:
            if not k.deleted and k.active and u.habit == "current":
                assert NOW + days(199) - k.created < days(policy.rotate_after_days + 30)
