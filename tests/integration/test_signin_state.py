"""The sign-in state (history, failure windows, alert dedupe, event claims) in the state table, against moto.

The same table as the lifecycle state: items live under `SIGNIN#` partitions and carry `expires_at`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import NotFound
from credlife.aws.signin_state import REQUIRED_ACTIONS, DynamoSigninState
from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.domain.events import normalise
from credlife.domain.models import AccessKey, KeyStatus
from credlife.domain.risk import RiskPolicy, SigninHistory, remember
from credlife.risk_monitor import MemorySigninState
from tests.cloudtrail import signin

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

pytestmark = pytest.mark.integration

TABLE = "credlife-state-test"
ACCOUNT = "123456789012"
T0 = datetime(2026, 6, 1, 8, 0, 30, tzinfo=UTC)
POLICY = RiskPolicy()


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def dynamodb() -> Iterator[DynamoDBClient]:
    with mock_aws():
        client = boto3.client("dynamodb")
        create_state_table(client, TABLE)
        yield client


@pytest.fixture
def counter() -> ApiCallCounter:
    return ApiCallCounter()


@pytest.fixture
def state(dynamodb: DynamoDBClient, counter: ApiCallCounter) -> DynamoSigninState:
    return DynamoSigninState(TABLE, dynamodb, counter=counter)


def items(client: DynamoDBClient) -> list[dict[str, Any]]:
    return [
        {k: next(iter(v.values())) for k, v in item.items() if k in ("pk", "sk", "expires_at")}
        for item in client.scan(TableName=TABLE)["Items"]
    ]


def test_every_call_is_a_declared_action(state: DynamoSigninState, counter: ApiCallCounter) -> None:
    # When every operation runs once
    state.claim_event(ACCOUNT, "e1", T0)
    state.count_failure(ACCOUNT, "USER#alice", T0, POLICY)
    state.claim_alert(ACCOUNT, "USER#alice", "brute_force", T0, POLICY.window)
    state.save_history(ACCOUNT, "alice", SigninHistory(successes=1, last_seen=T0), POLICY)
    state.load_history(ACCOUNT, "alice")
    state.console_disabled(ACCOUNT, "alice")
    state.release_alert(ACCOUNT, "USER#alice", "brute_force")
    state.release_event(ACCOUNT, "e1")
    # Then only declared actions were called
    called = {f"dynamodb:{name.split(':')[1]}" for name in counter.calls}
    assert called == set(REQUIRED_ACTIONS)


class TestEventClaims:
    def test_first_claim_wins_and_expires(self, state: DynamoSigninState, dynamodb: DynamoDBClient) -> None:
        assert state.claim_event(ACCOUNT, "ev-1", T0) is True
        assert state.claim_event(ACCOUNT, "ev-1", T0) is False
        assert state.claim_event(ACCOUNT, "ev-2", T0) is True
        (first, _) = sorted(items(dynamodb), key=lambda i: i["pk"])
        assert first["pk"] == f"SIGNIN#{ACCOUNT}#EVENT#ev-1"
        assert int(first["expires_at"]) == int((T0 + timedelta(days=7)).timestamp())

    def test_a_released_claim_can_be_taken_again(self, state: DynamoSigninState) -> None:
        assert state.claim_event(ACCOUNT, "ev-1", T0) is True
        state.release_event(ACCOUNT, "ev-1")
        assert state.claim_event(ACCOUNT, "ev-1", T0) is True
        assert state.claim_event(ACCOUNT, "ev-1", T0) is False


class TestFailureWindows:
    def test_counts_inside_the_window_only(self, state: DynamoSigninState) -> None:
        # Given failures at minute 0, 5, 10, 14 and 15 (window 15 minutes, whole minutes)
        counts = [
            state.count_failure(ACCOUNT, "USER#grace", T0 + timedelta(minutes=m), POLICY)
            for m in (0, 5, 10, 14, 15)
        ]
        # Then at minute 14 all four are inside; at 15 the one at minute 0 has left the burst window
        assert [c.burst for c in counts] == [1, 2, 3, 4, 4]
        # and the slow window (24 hours) still holds every one
        assert [c.slow for c in counts] == [1, 2, 3, 4, 5]

    def test_slow_window_and_distinct_users_of_a_source(self, state: DynamoSigninState) -> None:
        # Given one source failing for 4 names (one twice) over 20 hours, then once 30 hours later
        names = ["a", "b", "a", "c", "d"]
        counts = [
            state.count_failure(ACCOUNT, "IP#x", T0 + timedelta(hours=5 * i), POLICY, user=n)
            for i, n in enumerate(names)
        ]
        assert [(c.slow, c.users) for c in counts] == [(1, 1), (2, 2), (3, 2), (4, 3), (5, 4)]
        late = state.count_failure(ACCOUNT, "IP#x", T0 + timedelta(hours=50), POLICY, user="e")
        assert (late.burst, late.slow, late.users) == (1, 1, 1)

    def test_subjects_are_counted_apart(self, state: DynamoSigninState) -> None:
        state.count_failure(ACCOUNT, "USER#grace", T0, POLICY)
        assert state.count_failure(ACCOUNT, "USER#grace2", T0, POLICY).burst == 1
        assert state.count_failure(ACCOUNT, "IP#198.51.100.1", T0, POLICY).burst == 1

    def test_same_answers_as_the_memory_store(self, state: DynamoSigninState) -> None:
        # Given one ordered sequence of failure times, some in the same minute
        memory = MemorySigninState()
        offsets = [0, 0.2, 1, 7, 13.9, 14.5, 16, 30, 30.1, 44, 1439, 1441, 3000]
        at = [T0 + timedelta(minutes=m) for m in offsets]
        users = [f"u{i % 4}" for i in range(len(at))]
        # Then DynamoDB and memory count every window alike
        assert [
            state.count_failure(ACCOUNT, "IP#x", t, POLICY, u) for t, u in zip(at, users, strict=True)
        ] == [memory.count_failure(ACCOUNT, "IP#x", t, POLICY, u) for t, u in zip(at, users, strict=True)]

    def test_items_live_under_signin_partitions_with_expiry(
        self, state: DynamoSigninState, dynamodb: DynamoDBClient
    ) -> None:
        state.count_failure(ACCOUNT, "USER#grace", T0, POLICY)
        (item,) = items(dynamodb)
        assert item["pk"] == f"SIGNIN#{ACCOUNT}#USER#grace"
        assert item["sk"] == "FAIL#2026-06-01T08:00:00+00:00"
        assert int(item["expires_at"]) > int(T0.timestamp())


class TestAlertDedupe:
    def test_one_alert_per_window(self, state: DynamoSigninState) -> None:
        window = POLICY.window
        claims = [
            state.claim_alert(ACCOUNT, "IP#1.2.3.4", "brute_force", T0 + timedelta(minutes=m), window)
            for m in (0, 1, 14, 15, 16)
        ]
        # at 15 minutes the first alert is a full window old: a new one may go out; at 16 it is again recent
        assert claims == [True, False, False, True, False]

    def test_a_released_alert_claim_can_be_taken_again(self, state: DynamoSigninState) -> None:
        assert state.claim_alert(ACCOUNT, "IP#1.2.3.4", "brute_force", T0, POLICY.window)
        state.release_alert(ACCOUNT, "IP#1.2.3.4", "brute_force")
        assert state.claim_alert(ACCOUNT, "IP#1.2.3.4", "brute_force", T0, POLICY.window)
        assert not state.claim_alert(ACCOUNT, "IP#1.2.3.4", "brute_force", T0, POLICY.window)

    def test_keys_and_reasons_dedupe_apart(self, state: DynamoSigninState) -> None:
        assert state.claim_alert(ACCOUNT, "IP#1.2.3.4", "brute_force", T0, POLICY.window)
        assert state.claim_alert(ACCOUNT, "USER#alice", "brute_force", T0, POLICY.window)


class TestHistory:
    def test_round_trip(self, state: DynamoSigninState) -> None:
        history = remember(None, normalise(signin(at=T0, ip="203.0.113.5")), POLICY)
        assert state.save_history(ACCOUNT, "alice", history, POLICY)
        loaded = state.load_history(ACCOUNT, "alice")
        assert loaded is not None
        assert (loaded.successes, loaded.version) == (1, 1)
        assert dict(loaded.known_ips) == {"203.0.113.5": T0.replace(microsecond=0)}
        assert loaded.known_agents.keys() == history.known_agents.keys()
        assert loaded.first_seen == loaded.last_seen == T0

    def test_concurrent_update_is_refused(self, state: DynamoSigninState) -> None:
        # Given two writers that both read version 0
        first = SigninHistory(successes=1, last_seen=T0)
        assert state.save_history(ACCOUNT, "alice", first, POLICY) is True
        # When the second writes on the same stale version / Then it is refused
        assert state.save_history(ACCOUNT, "alice", first, POLICY) is False
        loaded = state.load_history(ACCOUNT, "alice")
        assert loaded is not None
        assert loaded.version == 1
        assert state.save_history(ACCOUNT, "alice", loaded, POLICY) is True

    def test_unknown_user_has_no_history(self, state: DynamoSigninState) -> None:
        assert state.load_history(ACCOUNT, "nobody") is None

    def test_history_expires_after_history_days(
        self, state: DynamoSigninState, dynamodb: DynamoDBClient
    ) -> None:
        state.save_history(ACCOUNT, "alice", SigninHistory(successes=1, last_seen=T0), POLICY)
        (item,) = items(dynamodb)
        assert (item["pk"], item["sk"]) == (f"SIGNIN#{ACCOUNT}#USER#alice", "HISTORY")
        assert int(item["expires_at"]) == int((T0 + timedelta(days=90)).timestamp())


class TestConsoleDisabled:
    """A sign-in is joined with the credential it uses: the console password the lifecycle deleted, never
    an access key it deactivated."""

    def key(self, created: datetime) -> AccessKey:
        return AccessKey(created=created, status=KeyStatus.ACTIVE, key_id="AKIAEXAMPLE0000001")

    def test_reads_the_lifecycles_password_deletion_of_this_user_only(
        self, state: DynamoSigninState, dynamodb: DynamoDBClient
    ) -> None:
        # Given the lifecycle deleted dora's console password three days ago
        lifecycle = DynamoStateStore(TABLE, dynamodb)
        at = T0 - timedelta(days=3)
        lifecycle.record_credential_state(ACCOUNT, "dora", "password", "console", at={"deleted_at": at})
        # Then dora's console is disabled since then; a user whose name starts alike is not confused
        assert state.console_disabled(ACCOUNT, "dora") == (at, "console_password_deleted")
        assert state.console_disabled(ACCOUNT, "dor") is None
        assert state.console_disabled(ACCOUNT, "dora2") is None

    def test_a_deactivated_access_key_does_not_disable_the_console(
        self, state: DynamoSigninState, dynamodb: DynamoDBClient
    ) -> None:
        lifecycle = DynamoStateStore(TABLE, dynamodb)
        lifecycle.record_deactivation(ACCOUNT, "erik", self.key(T0), at=T0, reason="key_unused")
        assert state.console_disabled(ACCOUNT, "erik") is None

    def test_a_password_record_without_deletion_is_not_disabled(
        self, state: DynamoSigninState, dynamodb: DynamoDBClient
    ) -> None:
        lifecycle = DynamoStateStore(TABLE, dynamodb)
        lifecycle.record_credential_detected(ACCOUNT, "fay", "password", "console", at=T0)
        assert state.console_disabled(ACCOUNT, "fay") is None


def test_unencodable_text_never_breaks_the_history_write(state: DynamoSigninState) -> None:
    # Given a sign-in whose user agent holds an unpaired surrogate (fuzzed or hostile input)
    event = normalise(signin(at=T0, agent="Mozilla/5.0 \udc80 (X11)"))
    # Then the history with its agent family is written and read back
    assert state.save_history(ACCOUNT, "alice", remember(None, event, POLICY), POLICY)
    loaded = state.load_history(ACCOUNT, "alice")
    assert loaded is not None
    assert len(loaded.known_agents) == 1


def test_missing_table_is_a_typed_error(dynamodb: DynamoDBClient) -> None:
    with pytest.raises(NotFound):
        DynamoSigninState("no-such-table", dynamodb).claim_event(ACCOUNT, "e", T0)
