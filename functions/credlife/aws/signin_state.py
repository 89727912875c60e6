"""Sign-in history, failure counters, alert dedupe and event claims, in the project's state table.

Same table as the lifecycle state (`credlife.aws.state_store`: string `pk`/`sk`, TTL attribute
`expires_at` in epoch seconds); every item here lives under a `SIGNIN#<account>#...` partition, so nothing
collides with the lifecycle's `ACCOUNT#` and `AUDIT#` items:

- event claim: pk `SIGNIN#<account>#EVENT#<event id>`, sk `EVENT`; expires 7 days after the event.
- failures: pk `SIGNIN#<account>#USER#<user>` or `SIGNIN#<account>#IP#<ip>`, sk `FAIL#<minute, UTC>`,
  attribute `count`; expires a day after the window.
- alert dedupe: pk as for failures, sk `ALERT#<reason>`, attribute `alerted_at` (epoch seconds); expires a
  day after the window.
- history: pk `SIGNIN#<account>#USER#<user>`, sk `HISTORY`: successes, known IPs and user-agent families
  (each with when last seen), first/last seen, `version`; expires `history_days` after the last sign-in.

Reads compare `expires_at` themselves where it matters (DynamoDB deletes expired items only eventually).
`disabled` reads the lifecycle's key records (`ACCOUNT#<account>`, `KEY#<user>#...`) for a deactivation
the project made. IAM user names cannot contain `#`, so `KEY#<user>#` matches one user exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import boto3

from credlife.aws.calls import ApiCallCounter
from credlife.aws.state_store import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE, ConditionFailed, dynamo_call
from credlife.domain.risk import RiskPolicy, SigninHistory, minute_bucket, window_start

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

log = logging.getLogger("credlife.signin_state")

#: What this adapter calls on the state table.
REQUIRED_ACTIONS: Final = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query")

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

    def count_failure(self, account: str, subject: str, at: datetime, policy: RiskPolicy) -> int:
        pk = _pk(account, subject)
        bucket = minute_bucket(at)
        expires = _epoch(bucket + policy.window + timedelta(days=1))
        self._call(
            "UpdateItem",
            lambda: self._client.update_item(
                TableName=self.table_name,
                Key=_key(pk, f"FAIL#{_iso(bucket)}"),
                UpdateExpression="ADD #count :one SET #ttl = :ttl",
                ExpressionAttributeNames={"#count": "count", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":one": _n(1), ":ttl": _n(expires)},
            ),
        )
        page = self._call(
            "Query",
            lambda: self._client.query(
                TableName=self.table_name,
                ConsistentRead=True,
                KeyConditionExpression="#pk = :pk AND #sk BETWEEN :start AND :end",
                ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
                ExpressionAttributeValues={
                    ":pk": _s(pk),
                    ":start": _s(f"FAIL#{_iso(window_start(at, policy))}"),
                    ":end": _s(f"FAIL#{_iso(bucket)}"),
                },
            ),
        )
        # a window holds at most `brute_force_window_minutes` (≤ 1440) small items: one page
        return sum(int(item.get("count", {}).get("N", "0")) for item in page.get("Items", []))

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

    def disabled(self, account: str, user: str, reasons: Sequence[str]) -> tuple[datetime, str] | None:
        if not reasons or "#" in user:
            return None
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "FilterExpression": "attribute_exists(#at)",
            "ProjectionExpression": "#at, #why",
            "ExpressionAttributeNames": {
                "#pk": PARTITION_KEY,
                "#sk": SORT_KEY,
                "#at": "deactivated_at",
                "#why": "deactivation_reason",
            },
            "ExpressionAttributeValues": {":pk": _s(f"ACCOUNT#{account}"), ":prefix": _s(f"KEY#{user}#")},
        }
        found: list[tuple[datetime, str]] = []
        while True:
            page = self._call("Query", lambda: self._client.query(**request))
            for item in page.get("Items", []):
                why = item.get("deactivation_reason", {}).get("S", "")
                at = item.get("deactivated_at", {}).get("S")
                if at and why in reasons:
                    found.append((datetime.fromisoformat(at).astimezone(UTC), why))
            if not page.get("LastEvaluatedKey"):
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return max(found) if found else None

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
