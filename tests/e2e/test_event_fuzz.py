"""Seeded fuzzing of the deployed event handler inside `mock_aws` (state table, security topic, IAM):
thousands of mutated copies of the `events/` samples.

Two promises:
- nothing escapes: whatever the input (wrong types, deletions, deep nesting, huge or unencodable text),
  the handler returns a row per event and no row records an error;
- benign mutations change no verdict: what CloudTrail really varies (outcome case and spacing, MFAUsed case,
  event versions, unknown fields, key order, bare records, SQS-wrapped JSON) judges exactly like the sample.

Each trial runs in an account of its own (the state is partitioned by account), so the original and its
mutant are both judged from fresh state. `CREDLIFE_FUZZ_EVENTS` sets the number of hostile mutants
(default 1,000; a fifth as many benign pairs; ~30 s on a busy 2-core machine; try 20000 before a release)
and `CREDLIFE_FUZZ_SEED` the seed.
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from credlife.aws.state_store import create_state_table
from credlife.handlers import events as event_handler
from tests.e2e.conftest import EVENTS, REGION, Account, LambdaContext

pytestmark = pytest.mark.e2e

TABLE = "credlife-state-fuzz"
N = int(os.environ.get("CREDLIFE_FUZZ_EVENTS", "1000"))
SEED = int(os.environ.get("CREDLIFE_FUZZ_SEED", "1515"))
CONTEXT = LambdaContext(function_name="credlife-events")

#: Single-event samples (folders are sequences: their verdicts depend on the events before them).
SAMPLES = {
    p.name: json.loads(p.read_text(encoding="utf-8"))
    for p in sorted(EVENTS.glob("*.json"))
    if p.name.startswith(("signin-", "iam-", "ignored-"))
}


@pytest.fixture
def handler(aws: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Any], dict[str, Any]]]:
    create_state_table(aws.dynamodb, TABLE)
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="credlife-security")["TopicArn"]
    monkeypatch.setenv("CREDLIFE_STATE_TABLE", TABLE)
    monkeypatch.setenv("CREDLIFE_SECURITY_TOPIC_ARN", topic)
    # the verdicts alone ("was this you?" mail to owners of users that exist is tested elsewhere)
    monkeypatch.delenv("CREDLIFE_SENDER_EMAIL", raising=False)
    event_handler.use_runtime(None)

    def invoke(event: Any) -> dict[str, Any]:
        result: dict[str, Any] = event_handler.handler(event, CONTEXT)
        return result

    yield invoke
    event_handler.use_runtime(None)


def _in_account(event: dict[str, Any], account: str, tag: str) -> dict[str, Any]:
    """The event moved to its own account with fresh ids (a fresh state, no duplicate claim)."""
    event = copy.deepcopy(event)
    event["account"] = account
    event["id"] = f"{event.get('id')}-{tag}"
    detail = event.get("detail")
    if isinstance(detail, dict):
        detail["recipientAccountId"] = account
        detail["eventID"] = f"{detail.get('eventID')}-{tag}"
        identity = detail.get("userIdentity")
        if isinstance(identity, dict) and "accountId" in identity:
            identity["accountId"] = account
    return event


# -- benign mutations: what real CloudTrail records vary in -----------------------------------------------


def _shuffle(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffle(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffle(v, rng) for v in value]
    return value


def _outcome_case(event: dict[str, Any], rng: random.Random) -> Any:
    response = event["detail"].get("responseElements")
    if isinstance(response, dict) and isinstance(response.get("ConsoleLogin"), str):
        word = response["ConsoleLogin"]
        response["ConsoleLogin"] = rng.choice([word.lower(), word.upper(), f" {word}", f"{word}\n"])
    return event


def _mfa_case(event: dict[str, Any], rng: random.Random) -> Any:
    extra = event["detail"].get("additionalEventData")
    if isinstance(extra, dict) and isinstance(extra.get("MFAUsed"), str):
        extra["MFAUsed"] = rng.choice([extra["MFAUsed"].lower(), extra["MFAUsed"].upper()])
    return event


def _version(event: dict[str, Any], rng: random.Random) -> Any:
    event["detail"]["eventVersion"] = rng.choice(["1.08", "1.09", "1.10", "1.11"])
    return event


def _unknown_fields(event: dict[str, Any], rng: random.Random) -> Any:
    event["detail"].update(
        tlsDetails={"tlsVersion": "TLSv1.3", "clientProvidedHostHeader": "signin.aws.amazon.com"},
        eventCategory="Management",
        sessionCredentialFromConsole="true",
    )
    event[f"x-extra-{rng.randint(0, 9)}"] = "ignored"
    return event


def _missing_outcome_on_failure(event: dict[str, Any], rng: random.Random) -> Any:
    detail = event["detail"]
    response = detail.get("responseElements")
    if (
        isinstance(response, dict)
        and response.get("ConsoleLogin") == "Failure"
        and detail.get("errorMessage")
    ):
        detail["responseElements"] = rng.choice([None, {}])
    return event


def _shuffled(event: dict[str, Any], rng: random.Random) -> Any:
    return _shuffle(event, rng)


def _bare(event: dict[str, Any], rng: random.Random) -> Any:
    detail = event["detail"]
    return detail if "eventSource" in detail else event  # only a CloudTrail record has a bare form


def _sqs(event: dict[str, Any], rng: random.Random) -> Any:
    return {"Records": [{"messageId": "m1", "body": json.dumps(event)}]}


BENIGN: list[Callable[[dict[str, Any], random.Random], Any]] = [
    _outcome_case,
    _mfa_case,
    _version,
    _unknown_fields,
    _missing_outcome_on_failure,
    _shuffled,
    _bare,
    _sqs,
]


# -- hostile mutations: anything at all ---------------------------------------------------------------------


def _junk(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.randint(-(2**63), 2**63)
    if kind == 2:
        return rng.random() * 1e308
    if kind == 3:
        return rng.choice(["", " ", "Success", "\ud800", "Ω" * 50, "HIDDEN_DUE_TO_SECURITY_REASONS", "Root"])
    if kind == 4:
        return "A" * rng.choice([1, 2000, 300_000])
    if kind == 5:
        return rng.choice([True, False])
    if kind == 6:
        return [_junk(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == 7:
        return {rng.choice(["type", "arn", "userName", "x"]): _junk(rng, depth + 1) for _ in range(2)}
    nested: Any = "deep"
    for _ in range(rng.choice([50, 500])):
        nested = {"a": nested}
    return nested


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from _paths(inner, (*prefix, key))


def _hostile(event: dict[str, Any], rng: random.Random) -> Any:
    paths = list(_paths(event))
    for _ in range(rng.randint(1, 4)):
        path = rng.choice(paths)
        node: Any = event
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if rng.random() < 0.3:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = _junk(rng)
    shape = rng.randrange(4)
    if shape == 1:
        text = json.dumps(event)
        return text[: rng.randint(0, len(text))]
    if shape == 2:
        return event.get("detail")
    return event


def _verdict(result: dict[str, Any]) -> tuple[Any, ...]:
    (row,) = result["results"]
    return (row["verdict"], tuple(row["reasons"]), row["severity"])


def test_benign_mutations_change_no_verdict_and_nothing_escapes(
    handler: Callable[[Any], dict[str, Any]],
) -> None:
    rng = random.Random(SEED)
    names = sorted(SAMPLES)
    changed: list[str] = []
    for trial in range(max(1, N // 5)):
        name = rng.choice(names)
        sample = SAMPLES[name]
        account = f"{100000000000 + trial:012d}"
        original = handler(_in_account(sample, account, "o"))
        mutate = rng.choice(BENIGN)
        mutant = handler(mutate(_in_account(sample, f"{200000000000 + trial:012d}", "m"), rng))
        if _verdict(mutant) != _verdict(original):
            changed.append(f"{name} {mutate.__name__}: {_verdict(original)} → {_verdict(mutant)}")
        for result in (original, mutant):
            assert all(row["errors"] == [] for row in result["results"]), (name, result["results"])
    assert changed == []


def test_hostile_mutations_never_escape_the_per_record_guard(
    handler: Callable[[Any], dict[str, Any]],
) -> None:
    rng = random.Random(SEED + 1)
    names = sorted(SAMPLES)
    for trial in range(N):
        name = rng.choice(names)
        event = _hostile(_in_account(SAMPLES[name], f"{300000000000 + trial:012d}", "h"), rng)
        result = handler(event)  # never raises
        assert result["events"] >= 1
        for row in result["results"]:
            assert row["verdict"] in {"ignored", "malformed", "risky", "quiet", "duplicate"}
            assert row["errors"] == [], (name, row)
