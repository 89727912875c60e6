"""Best-practice advice (`credlife.domain.advice`): one rule per test, and properties over random users
(advice never changes IAM, and never changes the rest of the plan)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credlife.domain.actions import CHANGING_KINDS, ActionKind, Reason
from credlife.domain.advice import advise, user_kind
from credlife.domain.models import LoginProfile, User
from credlife.domain.planner import plan
from credlife.domain.policy import Policy
from credlife.lifecycle import is_finding
from tests.builders import NOW, days, key, snapshot, user
from tests.unit.test_planner_properties import keys

ADVICE = Policy(advice_enabled=True)
BOUNDARY = "arn:aws:iam::123456789012:policy/boundary"


def human(name: str = "hana", *access_keys: object) -> User:
    return replace(user(name, *access_keys), login_profile=LoginProfile(created=NOW - days(200)))  # type: ignore[arg-type]


def advice(u: User, policy: Policy = ADVICE) -> dict[Reason, str]:
    rows = [a for a in plan(snapshot([u]), policy, NOW) if a.action is ActionKind.ADVISE]
    assert all(a.user == u.name and a.key_id is None for a in rows)
    return {a.reason: a.detail for a in rows}


def test_human_with_access_keys_is_advised_identity_center() -> None:
    # Given a console user who also holds an active access key, and one without keys
    with_keys, without = human("hana", key(10, 1)), human("hugo")

    # When the planner runs with advice on
    found = advice(with_keys)

    # Then only the one with keys is advised to use IAM Identity Center and `aws configure sso`
    assert user_kind(with_keys) == "human"
    assert set(found) == {Reason.HUMAN_ACCESS_KEYS}
    assert "IAM Identity Center" in found[Reason.HUMAN_ACCESS_KEYS]
    assert "aws configure sso" in found[Reason.HUMAN_ACCESS_KEYS]
    assert advice(without) == {}


def test_long_lived_workload_key_is_advised_a_role() -> None:
    # Given workloads (keys only) with a key older than the advice threshold, and one with a fresh key
    old, fresh = user("batch", key(45, 1)), user("fresh", key(5, 1))
    inactive = user("parked", key(200, active=False))

    # When the planner runs with advice on (threshold 30 days)
    found = advice(old)

    # Then the old key's workload is advised an IAM role (or Roles Anywhere), the others are not
    assert user_kind(old) == "workload"
    assert set(found) == {Reason.WORKLOAD_ACCESS_KEYS}
    assert "IAM role" in found[Reason.WORKLOAD_ACCESS_KEYS]
    assert "Roles Anywhere" in found[Reason.WORKLOAD_ACCESS_KEYS]
    assert advice(fresh) == {}
    assert advice(inactive) == {}


def test_policies_attached_directly_are_advised_groups() -> None:
    # Given a user with a managed and an inline policy of its own, and one with permissions via groups only
    direct = replace(
        user("dora"), attached_policies=("arn:aws:iam::aws:policy/ReadOnlyAccess",), inline_policies=("s3",)
    )
    grouped = replace(user("gina"), groups=("readers",))

    # When the planner runs with advice on
    found = advice(direct)

    # Then only the direct attachments are flagged, mapped to Security Hub IAM.2
    assert set(found) == {Reason.DIRECT_POLICIES}
    assert "2 policies attached to the user directly" in found[Reason.DIRECT_POLICIES]
    assert advice(grouped) == {}
    row = next(a for a in plan(snapshot([direct]), ADVICE, NOW) if a.reason is Reason.DIRECT_POLICIES)
    assert row.control == "IAM.2"


def test_missing_permissions_boundary_only_where_required() -> None:
    # Given a user without a boundary and one with a boundary
    bare, bounded = user("bare"), replace(user("bound"), permissions_boundary=BOUNDARY)
    required = Policy(advice_enabled=True, require_permissions_boundary=True)

    # When the planner runs with and without the requirement
    # Then only the bare user is advised, and only when the configuration requires a boundary
    assert set(advice(bare, required)) == {Reason.NO_PERMISSIONS_BOUNDARY}
    assert advice(bounded, required) == {}
    assert advice(bare, ADVICE) == {}


def test_no_advice_when_disabled_or_exempt() -> None:
    # Given a user every rule applies to
    u = replace(human("all", key(100, 1)), attached_policies=("arn:p",))

    # When advice is off (the default), or the user is exempt
    # Then there are no advice rows
    assert advise(u, Policy(), NOW) == []
    assert advice(u, Policy(advice_enabled=True, break_glass_users=("all",))) == {}
    assert set(advice(u)) == {Reason.HUMAN_ACCESS_KEYS, Reason.DIRECT_POLICIES}


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    access_keys=st.lists(keys(), max_size=2),
    console=st.booleans(),
    attached=st.lists(st.sampled_from(["arn:a", "arn:b"]), max_size=2, unique=True),
    inline=st.lists(st.sampled_from(["i1", "i2"]), max_size=2, unique=True),
    boundary=st.booleans(),
)
def test_advice_never_changes_iam_nor_the_rest_of_the_plan(
    access_keys: list[object], console: bool, attached: list[str], inline: list[str], boundary: bool
) -> None:
    # Given any user
    u = replace(
        user("any", *access_keys),  # type: ignore[arg-type]
        login_profile=LoginProfile(created=NOW - days(60)) if console else None,
        attached_policies=tuple(attached),
        inline_policies=tuple(inline),
        permissions_boundary=BOUNDARY if boundary else None,
    )
    on = Policy(advice_enabled=True, require_permissions_boundary=True, dry_run=False)

    # When the planner runs with advice on and off
    with_advice = plan(snapshot([u]), on, NOW)
    without = plan(snapshot([u]), replace_policy(on, advice_enabled=False), NOW)

    # Then the advice rows are informational only and the other rows are exactly the plan without advice
    rows = [a for a in with_advice if a.action is ActionKind.ADVISE]
    assert not any(a.changes_iam or a.action in CHANGING_KINDS for a in rows)
    assert all(a.key_id is None and a.credential.value == "user" for a in rows)
    assert [a for a in with_advice if a.action is not ActionKind.ADVISE] == without


def replace_policy(policy: Policy, **changes: object) -> Policy:
    return policy.model_copy(update=changes)


def test_advice_alone_is_not_a_finding() -> None:
    # Given an advice row and a warn row
    u = user("batch", key(45, 1))
    (row,) = plan(snapshot([u]), ADVICE, NOW)

    # When the CLI decides its exit code
    # Then advice is no finding (exit 0), like an exemption
    assert row.action is ActionKind.ADVISE
    assert not is_finding(row)
    assert is_finding(replace(row, action=ActionKind.WARN))
