"""Sign-in history, failure counters, alert dedupe and event claims, in the project's state table.

Same table as the lifecycle state (`credlife.aws.state_store`: string `pk`/`sk`, TTL attribute
`expires_at` in epoch seconds); every item here lives under a `SIGNIN#<account>#...` partition, so nothing
collides with the lifecycle's `ACCOUNT#` and `AUDIT#` items:

- event claim: pk `SIGNIN#<account>#EVENT#<event id>`, sk `EVENT`; expires 7 days after the event; deleted
  again when the event's alert could not be published (so the redelivery is judged).
- failures: pk `SIGNIN#<account>#USER#<user, case-folded>`, `SIGNIN#<account>#IP#<ip or IPv6 /64>` or
  `SIGNIN#<account>#DENIED#<caller ARN>`, sk `FAIL#<minute, UTC>`, attributes `count` and (sources) `users`,
  a string set of the user names tried; expires a day after the longer window. One Query over the slow
  window's buckets answers both windows (at most 1,440 small items: one page).
- alert dedupe: pk as for failures, sk `ALERT#<reason>`, attribute `alerted_at` (epoch seconds); expires a
  day after the window.
- history: pk `SIGNIN#<account>#USER#<user>`, sk `HISTORY`: successes, known IPs and user-agent families
  (each with when last seen), first/last seen, `version`; expires `history_days` after the last sign-in.

Reads compare `expires_at` themselves where it matters (DynamoDB deletes expired items only eventually).
`console_disabled` reads the lifecycle's console-password record (`ACCOUNT#<account>`,
`CRED#password#<user>#console`) for a deletion the project made: one GetItem.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import boto3

from credlife.aws.calls import ApiCallCounter
from credlife.aws.state_store import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE, ConditionFailed, dynamo_call
from credlife.domain.risk import (
    Failures,
    RiskPolicy,
    SigninHistory,
    failure_span,
    minute_bucket,
    slow_window_start,
    window_start,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

log = logging.getLogger("credlife.signin_state")

#: What this adapter calls on the state table.
REQUIRED_ACTIONS: Final = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:DeleteItem",
)

EVENT_CLAIM_DAYS: Final = 7


class DynamoSigninState:
    """`SigninStatePort` (see `credlife.risk_monitor`) over the state table."""

    def __init__(
        self, table_name: str, client: DynamoDBClient | None = None, *, counter: ApiCallCounter | None = None
    ) -> None:
        self.table_name = table_name
        self._client: DynamoDBClient = client if client is not None else boto3.client("dynamodb")
        if counter is not None:
            counter.attach(self._client)

    def claim_event(self, account: str, event_id: str, at: datetime) -> bool:
        item = {
            **_key(_pk(account, f"EVENT#{event_id}"), "EVENT"),
            "judged_at": _s(_iso(at)),
            TTL_ATTRIBUTE: _n(_epoch(at + timedelta(days=EVENT_CLAIM_DAYS))),
        }
        return self._conditional(
            "PutItem",
            lambda: self._client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
            ),
        )

    def release_event(self, account: str, event_id: str) -> None:
        self._call(
            "DeleteItem",
            lambda: self._client.delete_item(
                TableName=self.table_name, Key=_key(_pk(account, f"EVENT#{event_id}"), "EVENT")
            ),
        )

    def count_failure(
        self, account: str, subject: str, at: datetime, policy: RiskPolicy, user: str | None = None
    ) -> Failures:
        pk = _pk(account, subject)
        bucket = minute_bucket(at)
        expires = _epoch(bucket + failure_span(policy) + timedelta(days=1))
        names = {"#count": "count", "#ttl": TTL_ATTRIBUTE}
        values: dict[str, AttributeValueTypeDef] = {":one": _n(1), ":ttl": _n(expires)}
        update = "ADD #count :one SET #ttl = :ttl"
        if user:
            names["#users"] = "users"
            values[":user"] = {"SS": [user[:128]]}
            update = "ADD #count :one, #users :user SET #ttl = :ttl"
        self._call(
            "UpdateItem",
            lambda: self._client.update_item(
                TableName=self.table_name,
                Key=_key(pk, f"FAIL#{_iso(bucket)}"),
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            ),
        )
        start = _iso(window_start(at, policy))
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "ConsistentRead": True,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :start AND :end",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": _s(pk),
                ":start": _s(f"FAIL#{_iso(min(window_start(at, policy), slow_window_start(at, policy)))}"),
                ":end": _s(f"FAIL#{_iso(bucket)}"),
            },
        }
        burst = slow = 0
        users: set[str] = set()
        while True:  # the slow window holds at most 1,440 small items: one page unless users are many
            page = self._call("Query", lambda: self._client.query(**request))
            for item in page.get("Items", []):
                count = int(item.get("count", {}).get("N", "0"))
                slow += count
                if item.get(SORT_KEY, {}).get("S", "") >= f"FAIL#{start}":
                    burst += count
                users.update(item.get("users", {}).get("SS", []))
            if not page.get("LastEvaluatedKey"):
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return Failures(burst=burst, slow=slow, users=len(users))

    def claim_alert(self, account: str, key: str, reason: str, at: datetime, window: timedelta) -> bool:
        now = _epoch(at)
        return self._conditional(
            "UpdateItem",
            lambda: self._client.update_item(
                TableName=self.table_name,
                Key=_key(_pk(account, key), f"ALERT#{reason}"),
                UpdateExpression="SET #at = :now, #ttl = :ttl",
                ConditionExpression="attribute_not_exists(#at) OR #at <= :cutoff",
                ExpressionAttributeNames={"#at": "alerted_at", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":now": _n(now),
                    ":cutoff": _n(_epoch(at - window)),
                    ":ttl": _n(_epoch(at + window + timedelta(days=1))),
                },
            ),
        )

    def release_alert(self, account: str, key: str, reason: str) -> None:
        self._call(
            "UpdateItem",
            lambda: self._client.update_item(
                TableName=self.table_name,
                Key=_key(_pk(account, key), f"ALERT#{reason}"),
                UpdateExpression="REMOVE #at",
                ExpressionAttributeNames={"#at": "alerted_at"},
            ),
        )

    def load_history(self, account: str, user: str) -> SigninHistory | None:
        response = self._call(
            "GetItem",
            lambda: self._client.get_item(
                TableName=self.table_name,
                Key=_key(_pk(account, f"USER#{user}"), "HISTORY"),
                ConsistentRead=True,
            ),
        )
        item = response.get("Item")
        if not item:
            return None
        try:
            return _decode_history(item)
        except (KeyError, TypeError, ValueError) as error:
            log.error(
                "undecodable sign-in history; starting afresh", extra={"user": user, "error": str(error)}
            )
            return None

    def save_history(self, account: str, user: str, history: SigninHistory, policy: RiskPolicy) -> bool:
        item: dict[str, AttributeValueTypeDef] = {
            **_key(_pk(account, f"USER#{user}"), "HISTORY"),
            "user": _s(user),
            "successes": _n(history.successes),
            "known_ips": _m({ip: _s(_iso(at)) for ip, at in history.known_ips.items()}),
            "known_agents": _m({agent: _s(_iso(at)) for agent, at in history.known_agents.items()}),
            "version": _n(history.version + 1),
        }
        if history.last_seen:
            item[TTL_ATTRIBUTE] = _n(_epoch(history.last_seen + timedelta(days=policy.history_days)))
        if history.first_seen:
            item["first_seen"] = _s(_iso(history.first_seen))
        if history.last_seen:
            item["last_seen"] = _s(_iso(history.last_seen))
        if history.version == 0:
            condition = "attribute_not_exists(#pk)"
            names = {"#pk": PARTITION_KEY}
            values: dict[str, AttributeValueTypeDef] = {}
        else:
            condition = "#version = :version"
            names = {"#version": "version"}
            values = {":version": _n(history.version)}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": item,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        return self._conditional("PutItem", lambda: self._client.put_item(**request))

    def console_disabled(self, account: str, user: str) -> tuple[datetime, str] | None:
        """The lifecycle's deletion of this user's console password (`deleted_at` on its credential
        record), if it made one. IAM user names cannot contain `#`: the key names one user exactly."""
        if "#" in user:
            return None
        response = self._call(
            "GetItem",
            lambda: self._client.get_item(
                TableName=self.table_name,
                Key=_key(f"ACCOUNT#{account}", f"CRED#password#{user}#console"),
                ProjectionExpression="#at",
                ExpressionAttributeNames={"#at": "deleted_at"},
            ),
        )
        at = response.get("Item", {}).get("deleted_at", {}).get("S")
        if not at:
            return None
        try:
            return datetime.fromisoformat(at).astimezone(UTC), "console_password_deleted"
        except ValueError:
            return None

    # -- internals -----------------------------------------------------------------------------------

    def _conditional(self, operation: str, call: Any) -> bool:
        try:
            self._call(operation, call)
        except ConditionFailed:
            return False
        return True

    def _call(self, operation: str, call: Any) -> Any:
        return dynamo_call(operation, call)


def _pk(account: str, subject: str) -> str:
    return f"SIGNIN#{account}#{subject}"


def _key(pk: str, sk: str) -> dict[str, AttributeValueTypeDef]:
    return {PARTITION_KEY: _s(pk), SORT_KEY: _s(sk)}


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _m(value: Mapping[str, AttributeValueTypeDef]) -> AttributeValueTypeDef:
    return {"M": dict(value)}


def _iso(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("sign-in state datetimes must be timezone-aware")
    return value.astimezone(UTC).isoformat()


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _times(attr: Mapping[str, Any]) -> dict[str, datetime]:
    return {k: datetime.fromisoformat(v["S"]).astimezone(UTC) for k, v in attr.get("M", {}).items()}


def _opt_time(item: Mapping[str, Any], name: str) -> datetime | None:
    value = item.get(name, {}).get("S")
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def _decode_history(item: Mapping[str, Any]) -> SigninHistory:
    return SigninHistory(
        successes=int(item["successes"]["N"]),
        known_ips=_times(item.get("known_ips", {})),
        known_agents=_times(item.get("known_agents", {})),
        first_seen=_opt_time(item, "first_seen"),
        last_seen=_opt_time(item, "last_seen"),
        version=int(item["version"]["N"]),
    )
