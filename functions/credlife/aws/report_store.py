"""The scheduled report's home: the report bucket the stack creates (versioned, encrypted, access-logged,
lifecycle-expired). Each run writes `report.html`, `report.csv` and `report.json` twice: under the run's
date (`<prefix>/<account>/<YYYY-MM-DD>/`, the history; a later run the same day replaces it as a new object
version) and under `<prefix>/<account>/latest/` (what a reader bookmarks). PutObject only: the function
can neither read nor delete reports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from botocore.exceptions import ClientError

from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import translate

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
else:
    S3Client = Any

#: What this adapter calls.
REQUIRED_ACTIONS: Final = ("s3:PutObject",)
CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}
_T = TypeVar("_T")


class S3ReportStore:
    def __init__(
        self, client: S3Client, *, bucket: str, prefix: str = "reports", counter: ApiCallCounter | None = None
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if counter is not None:
            counter.attach(client)

    def keys_for(self, account_id: str, generated_at: datetime, name: str) -> tuple[str, str]:
        day = generated_at.astimezone(UTC).strftime("%Y-%m-%d")
        return (
            f"{self.prefix}/{account_id}/{day}/{name}",
            f"{self.prefix}/{account_id}/latest/{name}",
        )

    def put(self, account_id: str, generated_at: datetime, files: Mapping[str, str]) -> list[str]:
        """Write each file (name → text) under the run's date and under latest/; the keys written."""
        written = []
        for name, text in files.items():
            content_type = CONTENT_TYPES.get(name[name.rfind(".") :], "application/octet-stream")
            for key in self.keys_for(account_id, generated_at, name):
                self._put(key, text.encode("utf-8"), content_type, account_id, generated_at)
                written.append(key)
        return written

    def _put(self, key: str, body: bytes, content_type: str, account_id: str, generated_at: datetime) -> None:
        self._call(
            "PutObject",
            lambda: self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata={"account-id": account_id, "generated-at": generated_at.isoformat()},
            ),
        )

    def _call(self, operation: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except ClientError as error:
            raise translate(error, operation) from error
