"""Counts AWS API calls per operation: API calls are the scarce resource (IAM throttles hard)."""

from __future__ import annotations

from collections import Counter
from typing import Any


class ApiCallCounter:
    """Attach to any boto3 client; every logical API call (retries excluded) is counted as
    `service:Operation`, e.g. `iam:ListAccessKeys`."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_name
        client.meta.events.register(
            f"before-parameter-build.{client.meta.service_model.service_id.hyphenize()}",
            lambda model, **_: self._count(service, model.name),
        )
        return client

    def _count(self, service: str, operation: str) -> None:
        self.calls[f"{service}:{operation}"] += 1

    def total(self, service: str | None = None) -> int:
        if service is None:
            return sum(self.calls.values())
        return sum(n for key, n in self.calls.items() if key.startswith(f"{service}:"))

    def snapshot(self) -> dict[str, int]:
        return dict(sorted(self.calls.items()))

    def reset(self) -> None:
        self.calls.clear()
