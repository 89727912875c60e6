"""Speed only, no behaviour: what makes thousands of simulated runs affordable on moto.

- Every simulated cold start builds a new boto3 session, whose botocore loader would parse the same
  service-model JSON files again (most of a cold start's cost). While `faster()` is active, loaders share
  what they loaded (botocore's own per-loader cache made process-wide; the models are read-only).
- moto's DynamoDB `Query` compares the hash key of every item of the table, so a run's Queries get slower
  as the audit trail grows day after day. While `faster()` is active, a Query on the table's own key gets
  only the items of its partition to look at: the same items, found by moto's own dictionary lookup.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore import loaders
from moto.dynamodb.models.table import Table

_SHARED: dict[tuple[Any, ...], Any] = {}
_CACHED = (
    "list_available_services",
    "determine_latest_version",
    "list_api_versions",
    "load_service_model",
    "load_data_with_path",
)


def _shared(name: str, original: Any) -> Any:
    def load(self: Any, *args: Any, **kwargs: Any) -> Any:
        key = (name, args, tuple(sorted(kwargs.items())))
        if key not in _SHARED:
            _SHARED[key] = original(self, *args, **kwargs)
        return _SHARED[key]

    return load


def _partitioned(original: Any) -> Any:
    signature = inspect.signature(original)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key = bound.arguments.get("hash_key")
        if bound.arguments.get("index_name") or hash_key is None or not self.range_key_attr:
            return original(self, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: partition  # the instance attribute shadows the method for this call
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    return query


@contextmanager
def faster() -> Iterator[None]:
    originals = {name: getattr(loaders.Loader, name) for name in _CACHED}
    for name, original in originals.items():
        setattr(loaders.Loader, name, _shared(name, original))
    query = Table.query
    Table.query = _partitioned(query)  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query = query  # type: ignore[method-assign]
        for name, original in originals.items():
            setattr(loaders.Loader, name, original)
