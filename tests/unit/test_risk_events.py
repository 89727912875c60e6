"""Normalising CloudTrail events (DESIGN §4 shapes) and the promise that bad input never raises: every
malformed shape becomes a `malformed` finding."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credlife.domain.events import EventKind, IgnoredEvent, MalformedEvent, normalise
from credlife.domain.risk import RiskPolicy
from credlife.risk_monitor import MemorySigninState, RiskMonitor
from tests.cloudtrail import HIDDEN, ROOT, api_call, iam_user, role_session, signin

EVENTS = Path(__file__).resolve().parents[2] / "events"


class TestShapes:
    def test_eventbridge_and_bare_record_normalise_alike(self) -> None:
        # Given the same sign-in wrapped by EventBridge and bare (as in a CloudTrail log file)
        wrapped = signin(iam_user("alice"), mfa="No")
        bare = copy.deepcopy(wrapped["detail"])
        # When normalised / Then both give the same event
        assert normalise(wrapped) == normalise(bare)

    def test_signin_fields(self) -> None:
        event = normalise(
            signin(iam_user("alice"), ok=False, mfa="No", ip="198.51.100.1", region="eu-north-1")
        )
        assert event.kind is EventKind.SIGNIN
        assert (event.user, event.login_result, event.mfa_used) == ("alice", "Failure", False)
        assert (event.source_ip, event.region, event.account) == (
            "198.51.100.1",
            "eu-north-1",
            "123456789012",
        )
        assert event.error_message == "Failed authentication"
        assert event.at.isoformat() == "2026-06-01T08:00:00+00:00"

    def test_hidden_user_name_has_no_history_key(self) -> None:
        event = normalise(signin(HIDDEN, ok=False, mfa="No"))
        assert event.user is None
        assert event.user_hidden

    def test_root_is_keyed_apart_from_any_iam_user(self) -> None:
        assert normalise(signin(ROOT)).user == "<root>"

    def test_sso_session_is_federated_and_keyed_by_no_user(self) -> None:
        event = normalise(signin(role_session("AWSReservedSSO_X_1", "erin", sso=True), mfa="No"))
        assert event.federated
        assert event.user is None

    def test_iam_call_targets_the_named_user_or_the_caller(self) -> None:
        assert normalise(api_call("CreateAccessKey", {"userName": "bob"})).user == "bob"
        assert normalise(api_call("CreateAccessKey", None, actor=iam_user("carol"))).user == "carol"

    def test_only_chosen_request_parameters_are_kept(self) -> None:
        # a login profile request carries a (hidden) password field: it is never copied
        event = normalise(api_call("CreateLoginProfile", {"userName": "bob", "password": "HIDDEN"}))
        assert dict(event.params or {}) == {"userName": "bob"}


class TestMalformed:
    @pytest.mark.parametrize(
        ("mutate", "problem"),
        [
            (lambda e: e["detail"].pop("eventTime") and e.pop("time"), "eventTime is missing"),
            (lambda e: e["detail"].update(eventTime="2026-06-01T08:00:00"), "no time zone"),
            (lambda e: e["detail"].update(eventTime="yesterday"), "not an ISO-8601"),
            (lambda e: e["detail"].pop("eventName"), "eventName is missing"),
            (lambda e: e.update(detail=json.dumps(e["detail"])), "detail is missing or not an object"),
            (lambda e: e.update(detail=None), "detail is missing or not an object"),
            (lambda e: e.update(source=None), "unexpected source"),
            (lambda e: e.update({"detail-type": None}), "unexpected detail-type"),
            (lambda e: e["detail"].update(responseElements={"ConsoleLogin": "Maybe"}), "ConsoleLogin"),
            (lambda e: e["detail"].update(responseElements={"ConsoleLogin": 1}), "ConsoleLogin"),
            (lambda e: e["detail"].update(responseElements=None), "ConsoleLogin"),
        ],
    )
    def test_each_shape_names_its_problem(self, mutate: Any, problem: str) -> None:
        event = signin()
        mutate(event)
        with pytest.raises(MalformedEvent, match=problem):
            normalise(event)

    @pytest.mark.parametrize("value", [None, 42, "not json", "[1, 2]", [], b"\xff"])
    def test_non_objects_are_malformed(self, value: Any) -> None:
        with pytest.raises(MalformedEvent):
            normalise(value)

    def test_wrong_typed_identity_fields_are_treated_as_absent(self) -> None:
        # Given a userIdentity whose userName is a number / Then the event is judged without a user
        event = signin({"type": "IAMUser", "userName": 7, "accountId": "123456789012"}, mfa="No")
        assert normalise(event).user is None

    def test_every_sign_in_and_iam_sample_normalises_and_malformed_ones_do_not(self) -> None:
        for path in sorted(EVENTS.rglob("*.json")):
            top = path.relative_to(EVENTS).parts[0]
            if top.startswith(("signin-", "iam-")):
                normalise(json.loads(path.read_text(encoding="utf-8")))
            elif top.startswith("malformed-"):
                with pytest.raises(MalformedEvent):
                    normalise(json.loads(path.read_text(encoding="utf-8")))
            elif top.startswith("ignored-"):
                with pytest.raises(IgnoredEvent):
                    normalise(json.loads(path.read_text(encoding="utf-8")))


class TestRobustParsing:
    """Well-formed variants CloudTrail really writes are judged like the canonical form; events out of the
    rules' scope are `ignored`, not `malformed`."""

    @pytest.mark.parametrize("outcome", ["success", "SUCCESS", " Success ", "Success\n"])
    def test_success_outcome_ignores_case_and_space(self, outcome: str) -> None:
        event = signin()
        event["detail"]["responseElements"]["ConsoleLogin"] = outcome
        assert normalise(event).login_result == "Success"

    @pytest.mark.parametrize("outcome", ["failure", "FAILURE", " Failure"])
    def test_failure_outcome_ignores_case_and_space(self, outcome: str) -> None:
        event = signin(ok=False)
        event["detail"]["responseElements"]["ConsoleLogin"] = outcome
        assert normalise(event).login_result == "Failure"

    @pytest.mark.parametrize("response", [None, {}, {"ConsoleLogin": None}])
    def test_missing_outcome_with_an_error_message_is_a_failure(self, response: Any) -> None:
        event = signin(ok=False)
        event["detail"]["responseElements"] = response
        assert normalise(event).login_result == "Failure"

    @pytest.mark.parametrize(
        "mutate",
        [
            lambda e: (
                e.update({"source": "aws.ec2", "detail-type": "AWS API Call via CloudTrail"})
                or e["detail"].update(eventSource="ec2.amazonaws.com", eventName="RunInstances")
            ),
            lambda e: e.update({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
            lambda e: e["detail"].update(eventName="CredentialChallenge"),
            lambda e: e["detail"].update(eventName="UserAuthentication"),
            lambda e: (
                e["detail"].update(eventSource="sso.amazonaws.com", eventName="Authenticate")
                or e.update(source="aws.sso")
            ),
        ],
    )
    def test_out_of_scope_events_are_ignored_not_malformed(self, mutate: Any) -> None:
        event = signin()
        mutate(event)
        with pytest.raises(IgnoredEvent):
            normalise(event)
        result = RiskMonitor(MemorySigninState(), RiskPolicy()).process(event)
        assert result.ignored
        assert result.findings == []
        assert result.verdict == "ignored"

    def test_bare_record_of_another_service_is_ignored(self) -> None:
        record = signin(bare=True)
        record.update(eventSource="s3.amazonaws.com", eventName="PutObject")
        with pytest.raises(IgnoredEvent):
            normalise(record)

    def test_unpaired_surrogate_in_user_agent_becomes_encodable(self) -> None:
        event = signin(agent="Mozilla/5.0 \ud800 broken")
        agent = normalise(event).user_agent or ""
        agent.encode("utf-8")  # would raise UnicodeEncodeError on a surrogate
        assert agent.startswith("Mozilla/5.0 ")

    def test_deeply_nested_body_is_malformed_not_an_exception(self) -> None:
        deep = "[" * 100_000 + "]" * 100_000
        result = RiskMonitor(MemorySigninState(), RiskPolicy()).process(deep)
        assert result.verdict == "malformed"
        assert result.errors == []

    def test_huge_fields_are_truncated(self) -> None:
        event = signin(agent="A" * 5_000_000)
        assert len(normalise(event).user_agent or "") <= 1024


# -- property: any mangling of a real event is judged without raising -------------------------------------

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20), st.just("")
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_PATHS = [
    ("detail",),
    ("detail", "eventTime"),
    ("detail", "eventName"),
    ("detail", "eventSource"),
    ("detail", "userIdentity"),
    ("detail", "userIdentity", "type"),
    ("detail", "userIdentity", "userName"),
    ("detail", "userIdentity", "arn"),
    ("detail", "userIdentity", "sessionContext"),
    ("detail", "responseElements"),
    ("detail", "responseElements", "ConsoleLogin"),
    ("detail", "additionalEventData"),
    ("detail", "additionalEventData", "MFAUsed"),
    ("detail", "requestParameters"),
    ("detail", "sourceIPAddress"),
    ("detail", "userAgent"),
    ("detail", "recipientAccountId"),
    ("detail", "eventID"),
    ("detail", "errorCode"),
    ("source",),
    ("detail-type",),
    ("time",),
]


def _mangle(event: dict[str, Any], path: tuple[str, ...], value: Any, delete: bool) -> None:
    node: Any = event
    for part in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return
        node = node[part]
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


#: Built once: the builders mint fresh ids and times, and Hypothesis must draw the same data when it
#: replays an example (else it reports the strategy as flaky).
_BASES = [
    signin(),
    signin(ok=False, mfa="No"),
    signin(ROOT),
    signin(HIDDEN, ok=False),
    api_call("CreateAccessKey", {"userName": "alice"}),
    api_call("DeactivateMFADevice", {"userName": "carol", "serialNumber": "arn:x:mfa/c"}),
]


@st.composite
def mangled_events(draw: st.DrawFn) -> Any:
    base = draw(st.sampled_from(_BASES))
    event = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        _mangle(event, draw(st.sampled_from(_PATHS)), draw(_VALUES), draw(st.booleans()))
    shape = draw(st.sampled_from(["object", "bare", "string", "truncated"]))
    if shape == "bare":
        return event.get("detail")
    if shape == "string":
        return json.dumps(event, default=str)
    if shape == "truncated":
        text = json.dumps(event, default=str)
        return text[: draw(st.integers(0, len(text)))]
    return event


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled_events())
def test_mangled_events_never_raise_out_of_the_monitor(raw: Any) -> None:
    # Given any mangled, truncated or wrong-typed version of a documented event
    monitor = RiskMonitor(MemorySigninState(), RiskPolicy(brute_force_failures=1))
    # When judged
    result = monitor.process(raw)
    # Then a result comes back; a rejected event carries exactly a malformed finding, and nothing errored
    assert result.errors == []
    if result.event_name is None and not result.ignored:
        assert [f.reason.value for f in result.findings] == ["malformed"]
