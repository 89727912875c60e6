"""The lifecycle state (key records) and the audit trail, in one DynamoDB table (single-table design).

Layout (partition key `pk`, sort key `sk`, both strings; TTL attribute `expires_at`, epoch seconds):

| item | pk | sk |
|---|---|---|
| key record | `ACCOUNT#<account_id>` | `KEY#<user>#<key created, ISO-8601 UTC>` |
| credential record | `ACCOUNT#<account_id>` | `CRED#<credential type>#<user>#<credential id>` |
| audit entry | `AUDIT#<account_id>` | `<at, ISO-8601 UTC, microseconds>#<run_id>#<seq>-<random>` |
| outbox item | `OUTBOX#<account_id>` | `MSG#<message item id>` |
| rotation journal entry | `ACCOUNT#<account_id>` | `JOURNAL#<user>#<started, ISO-8601 UTC>#<run_id>` |
| audited episode | `EPISODE#<account_id>` | `<episode id of a quiet row>` |

IAM user names never contain `#`, so the sort keys cannot be confused. Datetimes are stored as ISO-8601 UTC
strings and decoded back into aware datetimes. Notices live in one map attribute `notices`, keyed
`<warns_of>:<stage>:<live|dry>`; each is written with an `attribute_not_exists` condition on its entry, so
a notice is stored once per key however often a run is repeated. Audit entries expire after
`AUDIT_RETENTION_DAYS`; a key record gets an expiry once its key is deleted.

The outbox holds every message item (owner notice, action report, escalation) from the moment it is
decided until a channel accepted it: stored once by its deterministic id (`attribute_not_exists`), marked
`delivered_at` after delivery (then it expires after `OUTBOX_RETENTION_DAYS`), and re-sent by every run
while undelivered (`attempts` and `last_error` count the failures).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import AwsError, translate
from credlife.domain.actions import Action, ActionKind, Reason, Severity
from credlife.domain.messages import MessageItem
from credlife.domain.models import (
    AccessKey,
    CredentialRecord,
    CredentialType,
    KeyRecord,
    Notice,
    cred_ref,
    key_ref,
)
from credlife.ports import AuditEntry, RotationJournal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        AttributeValueTypeDef,
        KeySchemaElementTypeDef,
    )

log = logging.getLogger("credlife.state")

#: What this adapter calls (the CDK construct grants exactly these on the table).
REQUIRED_ACTIONS: Final = (
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:BatchWriteItem",  # episode markers, many per run (puts and deletes)
)
#: TransactWriteItems is authorized as the writes inside it (PutItem / UpdateItem on the table): no
#: action of its own is needed.

PARTITION_KEY: Final = "pk"
SORT_KEY: Final = "sk"
TTL_ATTRIBUTE: Final = "expires_at"
TABLE_KEY_SCHEMA: Final[tuple[KeySchemaElementTypeDef, ...]] = (
    {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
)
TABLE_ATTRIBUTES: Final[tuple[AttributeDefinitionTypeDef, ...]] = (
    {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
    {"AttributeName": SORT_KEY, "AttributeType": "S"},
)
#: Audit entries (and records of deleted keys) are kept this long, then DynamoDB's TTL removes them.
AUDIT_RETENTION_DAYS: Final = 400
#: Delivered outbox items are kept this long (their ids keep a repeated run from sending them again).
OUTBOX_RETENTION_DAYS: Final = 30
#: Finished rotation journal entries are kept this long (the audit trail keeps the history).
JOURNAL_RETENTION_DAYS: Final = 30

_CONDITION_FAILED = "ConditionalCheckFailedException"
_NOTICES = "notices"
#: Record attributes holding datetimes (ISO-8601 UTC strings).
_DATETIME_FIELDS = (
    "rotated_at",
    "replacement_created",
    "deactivated_at",
    "first_seen_inactive",
    "replacement_first_used",
    "reactivated_at",
)
_TRANSACTION_CANCELED = "TransactionCanceledException"
_CRED_DATETIME_FIELDS = ("detected_at", "resolved_at", "enforced_at", "deleted_at")


def create_state_table(client: DynamoDBClient, name: str) -> str:
    """Create the state table (on-demand billing, TTL on `expires_at`) and wait until it is active.
    For tests and the local demo; in AWS the CDK stack owns the table. Returns the table ARN."""
    response = client.create_table(
        TableName=name,
        KeySchema=list(TABLE_KEY_SCHEMA),
        AttributeDefinitions=list(TABLE_ATTRIBUTES),
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name)
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
    return response["TableDescription"]["TableArn"]


class StateDecodeError(ValueError):
    """An item in the state table does not have the expected shape."""


class DynamoStateStore:
    """`StateStorePort` over one DynamoDB table."""

    def __init__(
        self, table_name: str, client: DynamoDBClient | None = None, *, counter: ApiCallCounter | None = None
    ) -> None:
        self.table_name = table_name
        self._client: DynamoDBClient = client if client is not None else boto3.client("dynamodb")
        if counter is not None:
            counter.attach(self._client)
        # Orders the audit entries one store writes within the same instant (intent before result).
        self._seq = itertools.count()

    # -- reads ---------------------------------------------------------------------------------------

    def load_records(self, account_id: str) -> dict[str, KeyRecord]:
        """Every live key record of the account (one paginated Query), keyed by `key_ref`. Records of
        deleted keys are left out; an item that cannot be decoded is logged and skipped."""
        records: dict[str, KeyRecord] = {}
        for item in self._query(
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            FilterExpression="attribute_not_exists(#deleted)",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY, "#deleted": "deleted_at"},
            ExpressionAttributeValues={":pk": _s(_account_pk(account_id)), ":prefix": _s("KEY#")},
        ):
            try:
                record = _decode_record(item)
            except (StateDecodeError, KeyError, ValueError, TypeError) as error:
                log.error(
                    "skipping an undecodable key record",
                    extra={
                        "account_id": account_id,
                        "sk": item.get(SORT_KEY, {}).get("S"),
                        "error": str(error),
                    },
                )
                continue
            records[key_ref(record.user, record.key_created)] = record
        return records

    def audit_log(
        self, account_id: str, *, since: datetime | None = None, phase: str | None = None
    ) -> list[AuditEntry]:
        """The account's audit trail, oldest first; from `since` on when given (sort keys start with the
        entry's time, so that is a key condition, not a filter: only the window is read), and only one
        `phase` ("intent" / "result") when given."""
        if since is None:
            condition, names = "#pk = :pk", {"#pk": PARTITION_KEY}
            values: dict[str, AttributeValueTypeDef] = {":pk": _s(_audit_pk(account_id))}
        else:
            condition, names = "#pk = :pk AND #sk >= :since", {"#pk": PARTITION_KEY, "#sk": SORT_KEY}
            values = {
                ":pk": _s(_audit_pk(account_id)),
                ":since": _s(_iso(since, timespec="microseconds")),
            }
        extra: dict[str, Any] = {}
        if phase is not None:
            extra = {"FilterExpression": "#phase = :phase"}
            names = {**names, "#phase": "phase"}
            values = {**values, ":phase": _s(phase)}
        return [
            _decode_audit(item)
            for item in self._query(
                KeyConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                **extra,
            )
        ]

    # -- key record writes ---------------------------------------------------------------------------

    def record_notice(
        self,
        account_id: str,
        user: str,
        key: AccessKey,
        notice: Notice,
        messages: Sequence[MessageItem] = (),
    ) -> bool:
        """Store a notice once per key, action, stage, deadline and live/dry, together with the outbox items
        that tell its owner (one transaction: both or neither). False when the notice was already there."""
        names, values, sets = self._identity(user, key)
        # make sure the item and its notices map exist (idempotent), then add the entry under a condition
        self._update(
            account_id,
            user,
            key,
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        return self._add_notice(_record_key(account_id, user, key), account_id, notice, messages)

    def record_rotation(
        self, account_id: str, user: str, key: AccessKey, *, rotated_at: datetime, replacement: AccessKey
    ) -> None:
        attrs: dict[str, AttributeValueTypeDef] = {
            "rotated_at": _s(_iso(rotated_at)),
            "replacement_created": _s(_created(replacement.created)),
        }
        if replacement.key_id:
            attrs["replacement_key_id"] = _s(replacement.key_id)
        self._update_plain(account_id, user, key, attrs)

    def record_deactivation(
        self, account_id: str, user: str, key: AccessKey, *, at: datetime, reason: str
    ) -> None:
        self._update_plain(
            account_id, user, key, {"deactivated_at": _s(_iso(at)), "deactivation_reason": _s(reason)}
        )

    def record_first_seen_inactive(self, account_id: str, user: str, key: AccessKey, *, at: datetime) -> bool:
        names, values, sets = self._identity(user, key)
        try:
            self._update(
                account_id,
                user,
                key,
                UpdateExpression="SET " + ", ".join([*sets, "#fsi = :fsi"]),
                ConditionExpression="attribute_not_exists(#fsi)",
                ExpressionAttributeNames={**names, "#fsi": "first_seen_inactive"},
                ExpressionAttributeValues={**values, ":fsi": _s(_iso(at))},
            )
        except ConditionFailed:
            return False
        return True

    def record_deletion(self, account_id: str, user: str, key: AccessKey, *, at: datetime) -> None:
        self._update_plain(
            account_id, user, key, {"deleted_at": _s(_iso(at)), TTL_ATTRIBUTE: _n(_expiry(at))}
        )

    # -- other credentials (console password, MFA enforcement, ...): `CRED#<type>#<user>#<id>` items ----

    def load_credential_records(self, account_id: str) -> dict[str, CredentialRecord]:
        """Every credential record of the account (one paginated Query), keyed by `cred_ref`."""
        records: dict[str, CredentialRecord] = {}
        for item in self._query(
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            ExpressionAttributeValues={":pk": _s(_account_pk(account_id)), ":prefix": _s("CRED#")},
        ):
            try:
                notices = item.get(_NOTICES, {}).get("M", {})
                record = CredentialRecord(
                    user=_required(item, "user"),
                    credential=_required(item, "credential"),
                    credential_id=_required(item, "credential_id"),
                    notices=tuple(
                        sorted(
                            (_decode_notice(v) for v in notices.values()),
                            key=lambda n: (n.sent_at, n.stage),
                        )
                    ),
                    **{name: _dt(item, name) for name in _CRED_DATETIME_FIELDS},
                )
            except (StateDecodeError, KeyError, ValueError, TypeError) as error:
                log.error(
                    "skipping an undecodable credential record",
                    extra={
                        "account_id": account_id,
                        "sk": item.get(SORT_KEY, {}).get("S"),
                        "error": str(error),
                    },
                )
                continue
            records[cred_ref(record.user, record.credential, record.credential_id)] = record
        return records

    def record_credential_notice(
        self,
        account_id: str,
        user: str,
        credential: str,
        credential_id: str,
        notice: Notice,
        *,
        detected_at: datetime | None = None,
        messages: Sequence[MessageItem] = (),
    ) -> bool:
        """Store a notice once (False when already there), with its outbox items in one transaction;
        `detected_at` starts the grace period once."""
        names = {"#user": "user", "#c": "credential", "#cid": "credential_id", "#notices": _NOTICES}
        values: dict[str, AttributeValueTypeDef] = {
            ":user": _s(user),
            ":c": _s(credential),
            ":cid": _s(credential_id),
            ":empty": _m({}),
        }
        sets = ["#user = :user", "#c = :c", "#cid = :cid", "#notices = if_not_exists(#notices, :empty)"]
        if detected_at is not None:
            names["#det"] = "detected_at"
            values[":det"] = _s(_iso(detected_at))
            sets.append("#det = if_not_exists(#det, :det)")
        key = _cred_key(account_id, user, credential, credential_id)
        # create the item (and its map) first, then add the entry under a condition
        self._call(
            "UpdateItem",
            lambda: self._client.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            ),
        )
        return self._add_notice(key, account_id, notice, messages)

    def mark_notice_delivered(self, account_id: str, notice_ref: str, *, at: datetime) -> None:
        """The owner received the notice `notice_ref` (from a delivered message item): its minimum-notice
        clock starts now. The first delivery wins; a notice that no longer exists is ignored."""
        sort_key, _, entry = notice_ref.partition("|")
        if not sort_key.startswith(("KEY#", "CRED#")) or not entry:
            raise ValueError("not a notice reference")
        key: dict[str, AttributeValueTypeDef] = {
            PARTITION_KEY: _s(_account_pk(account_id)),
            SORT_KEY: _s(sort_key),
        }
        with contextlib.suppress(ConditionFailed):
            self._call(
                "UpdateItem",
                lambda: self._client.update_item(
                    TableName=self.table_name,
                    Key=key,
                    UpdateExpression="SET #notices.#entry.#at = :at",
                    ConditionExpression=(
                        "attribute_exists(#notices.#entry) AND attribute_not_exists(#notices.#entry.#at)"
                    ),
                    ExpressionAttributeNames={"#notices": _NOTICES, "#entry": entry, "#at": "delivered_at"},
                    ExpressionAttributeValues={":at": _s(_iso(at))},
                ),
            )

    def _add_notice(
        self,
        record_key: Mapping[str, AttributeValueTypeDef],
        account_id: str,
        notice: Notice,
        messages: Sequence[MessageItem],
    ) -> bool:
        """Add one notice entry to an existing record, with its outbox items in the same transaction."""
        entry = _notice_key(notice)
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": dict(record_key),
            "UpdateExpression": "SET #notices.#entry = :notice",
            "ConditionExpression": "attribute_not_exists(#notices.#entry)",
            "ExpressionAttributeNames": {"#notices": _NOTICES, "#entry": entry},
            "ExpressionAttributeValues": {":notice": _encode_notice(notice)},
        }
        if not messages:
            try:
                self._call("UpdateItem", lambda: self._client.update_item(**update))
            except ConditionFailed:
                return False
            return True
        ref = f"{record_key[SORT_KEY]['S']}|{entry}"
        puts: list[Any] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": _outbox_record(account_id, replace(item, notice_ref=ref)),
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
                }
            }
            for item in messages
        ]
        try:
            transaction: list[Any] = [{"Update": update}, *puts]
            self._client.transact_write_items(TransactItems=transaction)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == _TRANSACTION_CANCELED:
                reasons = error.response.get("CancellationReasons") or []
                first = reasons[0].get("Code") if reasons else None
                if first == "ConditionalCheckFailed":
                    return False  # the notice was already recorded (its items with it)
            raise translate(error, "dynamodb:TransactWriteItems") from error
        except BotoCoreError as error:
            raise AwsError("dynamodb:TransactWriteItems", type(error).__name__) from error
        return True

    def record_key_observation(
        self, account_id: str, user: str, key: AccessKey, **observed: datetime
    ) -> None:
        """Facts a scan saw about a key and the planner needs later (`replacement_first_used`,
        `reactivated_at`)."""
        unknown = set(observed) - {"replacement_first_used", "reactivated_at"}
        if unknown:
            raise ValueError(f"not a key observation: {sorted(unknown)}")
        self._update_plain(account_id, user, key, {name: _s(_iso(at)) for name, at in observed.items()})

    def record_credential_detected(
        self, account_id: str, user: str, credential: str, credential_id: str, *, at: datetime
    ) -> None:
        """Start a credential's clock once (e.g. first seen inactive): an existing `detected_at` wins."""
        key = _cred_key(account_id, user, credential, credential_id)
        self._call(
            "UpdateItem",
            lambda: self._client.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="SET #user = :user, #c = :c, #cid = :cid, #det = if_not_exists(#det, :det)",
                ExpressionAttributeNames={
                    "#user": "user",
                    "#c": "credential",
                    "#cid": "credential_id",
                    "#det": "detected_at",
                },
                ExpressionAttributeValues={
                    ":user": _s(user),
                    ":c": _s(credential),
                    ":cid": _s(credential_id),
                    ":det": _s(_iso(at)),
                },
            ),
        )

    def record_credential_state(
        self,
        account_id: str,
        user: str,
        credential: str,
        credential_id: str,
        *,
        at: Mapping[str, datetime],
        remove: Sequence[str] = (),
    ) -> None:
        """Set datetime attributes (`enforced_at`, `resolved_at`, `deleted_at`, ...) and remove others
        (`detected_at` when a grace episode ends)."""
        names = {"#user": "user", "#c": "credential", "#cid": "credential_id"}
        values: dict[str, AttributeValueTypeDef] = {
            ":user": _s(user),
            ":c": _s(credential),
            ":cid": _s(credential_id),
        }
        sets = ["#user = :user", "#c = :c", "#cid = :cid"]
        for index, (name, when) in enumerate(at.items()):
            names[f"#a{index}"] = name
            values[f":a{index}"] = _s(_iso(when))
            sets.append(f"#a{index} = :a{index}")
        removes = []
        for index, name in enumerate(remove):
            names[f"#r{index}"] = name
            removes.append(f"#r{index}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        key = _cred_key(account_id, user, credential, credential_id)
        self._call(
            "UpdateItem",
            lambda: self._client.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            ),
        )

    # -- the rotation journal: `JOURNAL#<user>#<started>#<run_id>` items -------------------------------

    def journal_intent(self, account_id: str, entry: RotationJournal) -> None:
        """Store a new entry (once: a repeated write of the same entry is an error, not a second one)."""
        item: dict[str, AttributeValueTypeDef] = {**_journal_key(account_id, entry), **_encode_journal(entry)}
        self._call(
            "PutItem",
            lambda: self._client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
            ),
        )

    def journal_update(self, account_id: str, entry: RotationJournal) -> None:
        """Write the entry's step and what it learnt; a finished entry expires after
        `JOURNAL_RETENTION_DAYS`. Raises `ConditionFailed` when the entry does not exist."""
        attrs = _encode_journal(entry)
        mutable = ("step", "new_key_id", "new_key_created", "finished_at", "resolution")
        names = {"#pk": PARTITION_KEY}
        values: dict[str, AttributeValueTypeDef] = {}
        sets = []
        for index, name in enumerate(mutable):
            if name in attrs:
                names[f"#a{index}"] = name
                values[f":a{index}"] = attrs[name]
                sets.append(f"#a{index} = :a{index}")
        if entry.finished_at is not None:
            names["#ttl"] = TTL_ATTRIBUTE
            values[":ttl"] = _n(int((entry.finished_at + timedelta(days=JOURNAL_RETENTION_DAYS)).timestamp()))
            sets.append("#ttl = :ttl")
        key = _journal_key(account_id, entry)
        self._call(
            "UpdateItem",
            lambda: self._client.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            ),
        )

    def open_journals(self, account_id: str) -> list[RotationJournal]:
        """Every entry not finished yet, oldest first. An undecodable entry is logged and skipped (and
        reported: its user's rotation may be half-done)."""
        entries: list[RotationJournal] = []
        for item in self._query(
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            FilterExpression="attribute_not_exists(#fin)",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY, "#fin": "finished_at"},
            ExpressionAttributeValues={":pk": _s(_account_pk(account_id)), ":prefix": _s("JOURNAL#")},
        ):
            try:
                entries.append(_decode_journal(item))
            except (StateDecodeError, KeyError, ValueError, TypeError) as error:
                log.error(
                    "skipping an undecodable rotation journal entry",
                    extra={
                        "account_id": account_id,
                        "sk": item.get(SORT_KEY, {}).get("S"),
                        "error": str(error),
                    },
                )
        return sorted(entries, key=lambda e: (e.started_at, e.user))

    # -- audit ---------------------------------------------------------------------------------------

    def write_audit(self, account_id: str, entry: AuditEntry) -> None:
        at = _iso(entry.at, timespec="microseconds")
        sort_key = f"{at}#{entry.run_id}#{next(self._seq):09d}-{uuid.uuid4().hex[:12]}"
        item: dict[str, AttributeValueTypeDef] = {
            PARTITION_KEY: _s(_audit_pk(account_id)),
            SORT_KEY: _s(sort_key),
            "at": _s(_iso(entry.at)),
            "phase": _s(entry.phase),
            "run_id": _s(entry.run_id),
            "action": _s(json.dumps(dict(entry.action), sort_keys=True, default=str)),
            "outcome": _s(entry.outcome),
            "detail": _s(entry.detail),
            TTL_ATTRIBUTE: _n(_expiry(entry.at)),
        }
        self._call(
            "PutItem",
            lambda: self._client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#sk)",
                ExpressionAttributeNames={"#sk": SORT_KEY},
            ),
        )

    # -- audited episodes: a quiet row (report-only, dry-run) is audited once while it stays planned -----

    def load_episodes(self, account_id: str) -> dict[str, str]:
        """Episode id -> the key id its row named ("" when none), of every quiet row audited and still
        planned at the last full run (one paginated Query)."""
        return {
            _required(item, SORT_KEY): _str(item, "key_id") or ""
            for item in self._query(
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
                ExpressionAttributeValues={":pk": _s(_episode_pk(account_id))},
            )
        }

    def record_episodes(self, account_id: str, episodes: Mapping[str, str], *, at: datetime) -> None:
        """Remember audited episodes (batched, 25 per request)."""
        self._batch(
            account_id,
            [
                {
                    "PutRequest": {
                        "Item": {
                            PARTITION_KEY: _s(_episode_pk(account_id)),
                            SORT_KEY: _s(episode),
                            "at": _s(_iso(at)),
                            **({"key_id": _s(key_id)} if key_id else {}),
                            TTL_ATTRIBUTE: _n(_expiry(at)),
                        }
                    }
                }
                for episode, key_id in episodes.items()
            ],
        )

    def end_episodes(self, account_id: str, episodes: Sequence[str]) -> None:
        """Forget episodes whose row is no longer planned: if it comes back, it is audited again."""
        self._batch(
            account_id,
            [
                {"DeleteRequest": {"Key": {PARTITION_KEY: _s(_episode_pk(account_id)), SORT_KEY: _s(e)}}}
                for e in episodes
            ],
        )

    def _batch(self, account_id: str, requests: Sequence[Any]) -> None:
        """BatchWriteItem in chunks of 25, re-sending what DynamoDB left unprocessed (a few times)."""
        for start in range(0, len(requests), 25):
            pending: list[Any] = list(requests[start : start + 25])
            for _ in range(5):
                if not pending:
                    break
                batch = pending
                response = self._call(
                    "BatchWriteItem",
                    lambda batch=batch: self._client.batch_write_item(RequestItems={self.table_name: batch}),
                )
                pending = list(response.get("UnprocessedItems", {}).get(self.table_name, []))
            if pending:
                log.warning(
                    "episode markers not written", extra={"account_id": account_id, "count": len(pending)}
                )

    # -- outbox --------------------------------------------------------------------------------------

    def enqueue_message(self, account_id: str, item: MessageItem) -> bool:
        """Store the item once by its id; False when it is already there (delivered or not)."""
        record = _outbox_record(account_id, item)
        try:
            self._call(
                "PutItem",
                lambda: self._client.put_item(
                    TableName=self.table_name,
                    Item=record,
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": PARTITION_KEY},
                ),
            )
        except ConditionFailed:
            return False
        return True

    def pending_messages(self, account_id: str) -> list[MessageItem]:
        items: list[MessageItem] = []
        for stored in self._query(
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            FilterExpression="attribute_not_exists(#delivered)",
            ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY, "#delivered": "delivered_at"},
            ExpressionAttributeValues={":pk": _s(_outbox_pk(account_id)), ":prefix": _s("MSG#")},
        ):
            try:
                items.append(MessageItem.from_json(json.loads(_required(stored, "item"))))
            except (StateDecodeError, KeyError, ValueError, TypeError) as error:
                log.error(
                    "skipping an undecodable outbox item",
                    extra={
                        "account_id": account_id,
                        "sk": stored.get(SORT_KEY, {}).get("S"),
                        "error": str(error),
                    },
                )
        return sorted(items, key=lambda i: (i.created_at, i.id))

    def mark_delivered(self, account_id: str, item_ids: Sequence[str], *, at: datetime, receipt: str) -> None:
        expires = _n(int((at + timedelta(days=OUTBOX_RETENTION_DAYS)).timestamp()))
        for item_id in item_ids:
            self._outbox_update(
                account_id,
                item_id,
                UpdateExpression="SET #d = :d, #r = :r, #ttl = :ttl",
                ExpressionAttributeNames={"#d": "delivered_at", "#r": "receipt", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":d": _s(_iso(at)), ":r": _s(receipt[:256]), ":ttl": expires},
            )

    def mark_failed(self, account_id: str, item_ids: Sequence[str], *, at: datetime, error: str) -> None:
        for item_id in item_ids:
            self._outbox_update(
                account_id,
                item_id,
                UpdateExpression="SET #e = :e, #at = :at ADD #n :one",
                ExpressionAttributeNames={"#e": "last_error", "#at": "last_attempt_at", "#n": "attempts"},
                ExpressionAttributeValues={":e": _s(error[:300]), ":at": _s(_iso(at)), ":one": _n(1)},
            )

    def _outbox_update(self, account_id: str, item_id: str, **kwargs: Any) -> None:
        key: dict[str, AttributeValueTypeDef] = {
            PARTITION_KEY: _s(_outbox_pk(account_id)),
            SORT_KEY: _s(f"MSG#{item_id}"),
        }
        names = {**kwargs.pop("ExpressionAttributeNames"), "#pk": PARTITION_KEY}
        try:
            self._call(
                "UpdateItem",
                lambda: self._client.update_item(
                    TableName=self.table_name,
                    Key=key,
                    ConditionExpression="attribute_exists(#pk)",
                    ExpressionAttributeNames=names,
                    **kwargs,
                ),
            )
        except ConditionFailed:
            log.warning("outbox item not found", extra={"account_id": account_id, "item_id": item_id})

    # -- internals -----------------------------------------------------------------------------------

    def _query(self, **kwargs: Any) -> list[dict[str, AttributeValueTypeDef]]:
        items: list[dict[str, AttributeValueTypeDef]] = []
        request: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True, **kwargs}
        while True:
            page = self._call("Query", lambda: self._client.query(**request))
            items.extend(page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not last:
                return items
            request["ExclusiveStartKey"] = last

    def _identity(
        self, user: str, key: AccessKey, *, with_notices: bool = True
    ) -> tuple[dict[str, str], dict[str, AttributeValueTypeDef], list[str]]:
        """Attributes every write sets, so that whichever write comes first creates a complete item."""
        names = {"#user": "user", "#kc": "key_created"}
        values: dict[str, AttributeValueTypeDef] = {":user": _s(user), ":kc": _s(_created(key.created))}
        sets = ["#user = :user", "#kc = :kc"]
        if key.key_id:
            names["#kid"] = "key_id"
            values[":kid"] = _s(key.key_id)
            sets.append("#kid = :kid")
        if with_notices:
            names["#notices"] = _NOTICES
            values[":empty"] = _m({})
            sets.append("#notices = if_not_exists(#notices, :empty)")
        return names, values, sets

    def _update_plain(
        self, account_id: str, user: str, key: AccessKey, attrs: Mapping[str, AttributeValueTypeDef]
    ) -> None:
        names, values, sets = self._identity(user, key)
        for index, (name, value) in enumerate(attrs.items()):
            names[f"#a{index}"] = name
            values[f":a{index}"] = value
            sets.append(f"#a{index} = :a{index}")
        self._update(
            account_id,
            user,
            key,
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _update(self, account_id: str, user: str, key: AccessKey, **kwargs: Any) -> None:
        item_key = _record_key(account_id, user, key)
        self._call(
            "UpdateItem",
            lambda: self._client.update_item(TableName=self.table_name, Key=item_key, **kwargs),
        )

    def _call(self, operation: str, call: Any) -> Any:
        return dynamo_call(operation, call)


class ConditionFailed(Exception):
    """A conditional write found its condition false: not an error, the thing was already recorded."""


def dynamo_call(operation: str, call: Any) -> Any:
    """Run one call on the state table: a failed condition becomes `ConditionFailed`, any other error the
    project's typed error (shared by every adapter of the table)."""
    try:
        return call()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
            raise ConditionFailed from None
        raise translate(error, f"dynamodb:{operation}") from error
    except BotoCoreError as error:
        raise AwsError(f"dynamodb:{operation}", type(error).__name__) from error


# -- encoding ----------------------------------------------------------------------------------------


def _account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def _cred_key(
    account_id: str, user: str, credential: str, credential_id: str
) -> dict[str, AttributeValueTypeDef]:
    return {
        PARTITION_KEY: _s(_account_pk(account_id)),
        SORT_KEY: _s(f"CRED#{credential}#{user}#{credential_id}"),
    }


def _audit_pk(account_id: str) -> str:
    return f"AUDIT#{account_id}"


def _episode_pk(account_id: str) -> str:
    return f"EPISODE#{account_id}"


def _outbox_pk(account_id: str) -> str:
    return f"OUTBOX#{account_id}"


def _record_key(account_id: str, user: str, key: AccessKey) -> dict[str, AttributeValueTypeDef]:
    if "#" in user:
        raise ValueError("an IAM user name cannot contain '#'")
    return {
        PARTITION_KEY: _s(_account_pk(account_id)),
        SORT_KEY: _s(f"KEY#{user}#{_created(key.created)}"),
    }


def _outbox_record(account_id: str, item: MessageItem) -> dict[str, AttributeValueTypeDef]:
    return {
        PARTITION_KEY: _s(_outbox_pk(account_id)),
        SORT_KEY: _s(f"MSG#{item.id}"),
        "item": _s(json.dumps(item.as_json(), sort_keys=True)),
        "recipient": _s(item.recipient),
        "created_at": _s(_iso(item.created_at)),
        "attempts": _n(0),
    }


def _journal_key(account_id: str, entry: RotationJournal) -> dict[str, AttributeValueTypeDef]:
    if "#" in entry.user:
        raise ValueError("an IAM user name cannot contain '#'")
    started = _iso(entry.started_at, timespec="microseconds")
    return {
        PARTITION_KEY: _s(_account_pk(account_id)),
        SORT_KEY: _s(f"JOURNAL#{entry.user}#{started}#{entry.run_id}"),
    }


def _encode_journal(entry: RotationJournal) -> dict[str, AttributeValueTypeDef]:
    item: dict[str, AttributeValueTypeDef] = {
        "user": _s(entry.user),
        "old_key_created": _s(_created(entry.old_key_created)),
        "started_at": _s(_iso(entry.started_at)),
        "run_id": _s(entry.run_id),
        "action": _s(json.dumps(entry.action.as_row(), sort_keys=True)),
        "secret_name": _s(entry.secret_name),
        "secret_version": _s(entry.secret_version),
        "keys_before": _s(json.dumps(list(entry.keys_before))),
        "step": _s(entry.step),
        "resolution": _s(entry.resolution),
    }
    if entry.old_key_id:
        item["old_key_id"] = _s(entry.old_key_id)
    if entry.new_key_id:
        item["new_key_id"] = _s(entry.new_key_id)
    if entry.new_key_created is not None:
        item["new_key_created"] = _s(_created(entry.new_key_created))
    if entry.finished_at is not None:
        item["finished_at"] = _s(_iso(entry.finished_at))
    return item


def _decode_journal(item: Mapping[str, Any]) -> RotationJournal:
    keys_before = json.loads(_required(item, "keys_before"))
    if not isinstance(keys_before, list) or not all(isinstance(k, str) for k in keys_before):
        raise StateDecodeError("journal attribute 'keys_before' is not a list of key ids")
    return RotationJournal(
        user=_required(item, "user"),
        old_key_created=_parse_dt(_required(item, "old_key_created")),
        old_key_id=_str(item, "old_key_id"),
        started_at=_parse_dt(_required(item, "started_at")),
        run_id=_required(item, "run_id"),
        action=_decode_action(json.loads(_required(item, "action"))),
        secret_name=_required(item, "secret_name"),
        secret_version=_required(item, "secret_version"),
        keys_before=tuple(keys_before),
        step=_required(item, "step"),
        new_key_id=_str(item, "new_key_id"),
        new_key_created=_dt(item, "new_key_created"),
        finished_at=_dt(item, "finished_at"),
        resolution=_str(item, "resolution") or "",
    )


def _decode_action(row: Any) -> Action:
    """An `Action.as_row()` read back (the journal keeps the planned rotation it carries out)."""
    if not isinstance(row, dict):
        raise StateDecodeError("journal attribute 'action' is not a JSON object")

    def when(name: str) -> datetime | None:
        value = row.get(name)
        return _parse_dt(str(value)) if value else None

    due = when("due")
    if due is None:
        raise StateDecodeError("the journalled action has no due date")
    warns_of = row.get("warns_of")
    return Action(
        user=str(row["user"]),
        credential=CredentialType(row["credential"]),
        action=ActionKind(row["action"]),
        reason=Reason(row["reason"]),
        due=due,
        key_id=row.get("key_id"),
        key_created=when("key_created"),
        deadline=when("deadline"),
        warns_of=ActionKind(warns_of) if warns_of else None,
        stage=row.get("stage"),
        severity=Severity(row.get("severity", Severity.INFO.value)),
        dry_run=bool(row.get("dry_run", False)),
        detail=str(row.get("detail", "")),
    )


def _encode_notice(notice: Notice) -> AttributeValueTypeDef:
    fields: dict[str, AttributeValueTypeDef] = {
        "warns_of": _s(notice.warns_of),
        "stage": _s(notice.stage),
        "sent_at": _s(_iso(notice.sent_at)),
        "deadline": _s(_iso(notice.deadline)),
        "dry_run": {"BOOL": notice.dry_run},
        # delivery is tracked: without `delivered_at` the notice has not reached its owner
        "tracked": {"BOOL": True},
    }
    if notice.delivered_at is not None:
        fields["delivered_at"] = _s(_iso(notice.delivered_at))
    return _m(fields)


def _notice_key(notice: Notice) -> str:
    """One entry per announced action, stage and deadline: a key used again and idle again later is a new
    episode with a new deadline, so its notices are recorded (and sent) anew."""
    return f"{notice.warns_of}:{notice.stage}:{_iso(notice.deadline)}:{'dry' if notice.dry_run else 'live'}"


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _m(value: Mapping[str, AttributeValueTypeDef]) -> AttributeValueTypeDef:
    return {"M": dict(value)}


def _iso(value: datetime, timespec: str = "auto") -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("state store datetimes must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec=timespec)


def _created(value: datetime) -> str:
    """A key's creation time, to the second: IAM's own precision (moto adds microseconds in some calls
    and not in the credential report; whole seconds make both name the same key)."""
    return _iso(value.replace(microsecond=0))


def _expiry(at: datetime) -> int:
    return int((at + timedelta(days=AUDIT_RETENTION_DAYS)).timestamp())


def _parse_dt(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise StateDecodeError(f"datetime without a time zone: {value!r}")
    return parsed.astimezone(UTC)


def _str(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    if value is None or "NULL" in value:
        return None
    if "S" not in value:
        raise StateDecodeError(f"attribute {name!r} is not a string")
    return str(value["S"])


def _required(item: Mapping[str, Any], name: str) -> str:
    value = _str(item, name)
    if value is None:
        raise StateDecodeError(f"attribute {name!r} is missing")
    return value


def _dt(item: Mapping[str, Any], name: str) -> datetime | None:
    value = _str(item, name)
    return _parse_dt(value) if value is not None else None


def _decode_notice(value: Mapping[str, Any]) -> Notice:
    if "M" not in value:
        raise StateDecodeError("a notice is not a map")
    fields = value["M"]
    dry = fields.get("dry_run", {"BOOL": False})
    sent_at = _parse_dt(_required(fields, "sent_at"))
    # notices stored before delivery was tracked were counted from when they were recorded
    delivered_at = _dt(fields, "delivered_at") if "tracked" in fields else sent_at
    return Notice(
        warns_of=_required(fields, "warns_of"),
        stage=_required(fields, "stage"),
        sent_at=sent_at,
        deadline=_parse_dt(_required(fields, "deadline")),
        dry_run=bool(dry.get("BOOL", False)),
        delivered_at=delivered_at,
    )


def _decode_record(item: Mapping[str, Any]) -> KeyRecord:
    notices_attr = item.get(_NOTICES, {"M": {}})
    if "M" not in notices_attr:
        raise StateDecodeError("attribute 'notices' is not a map")
    notices = sorted(
        (_decode_notice(value) for value in notices_attr["M"].values()),
        key=lambda n: (n.sent_at, n.warns_of, n.stage, n.dry_run),
    )
    dates = {name: _dt(item, name) for name in _DATETIME_FIELDS}
    return KeyRecord(
        user=_required(item, "user"),
        key_created=_parse_dt(_required(item, "key_created")),
        key_id=_str(item, "key_id"),
        notices=tuple(notices),
        rotated_at=dates["rotated_at"],
        replacement_key_id=_str(item, "replacement_key_id"),
        replacement_created=dates["replacement_created"],
        deactivated_at=dates["deactivated_at"],
        deactivation_reason=_str(item, "deactivation_reason"),
        first_seen_inactive=dates["first_seen_inactive"],
        replacement_first_used=dates["replacement_first_used"],
        reactivated_at=dates["reactivated_at"],
    )


def _decode_audit(item: Mapping[str, Any]) -> AuditEntry:
    action = json.loads(_required(item, "action"))
    if not isinstance(action, dict):
        raise StateDecodeError("audit attribute 'action' is not a JSON object")
    return AuditEntry(
        at=_parse_dt(_required(item, "at")),
        phase=_required(item, "phase"),
        run_id=_required(item, "run_id"),
        action=action,
        outcome=_str(item, "outcome") or "",
        detail=_str(item, "detail") or "",
    )
