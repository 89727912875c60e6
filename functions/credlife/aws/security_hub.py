"""Security Hub: imports the project's ASFF findings into the scanned account and reads back the ones it
imported before (so a fixed credential's finding is resolved). Built on `credlife.asff` (pure).

`GetFindings` asks for this project's active findings only (product ARN, generator prefix, account, record
state); the result is filtered again here, so nothing another product imported is ever touched."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from botocore.exceptions import ClientError

from credlife.asff import GENERATOR_PREFIX, batches
from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import AwsError, translate

if TYPE_CHECKING:
    from mypy_boto3_securityhub.client import SecurityHubClient
else:
    SecurityHubClient = Any

log = logging.getLogger("credlife.security_hub")

#: What this adapter calls.
REQUIRED_ACTIONS: Final = ("securityhub:BatchImportFindings", "securityhub:GetFindings")
_T = TypeVar("_T")


class ImportFailed(AwsError):
    """Security Hub refused some findings (their ids and error codes, never their content)."""


class SecurityHubFindings:
    def __init__(self, client: SecurityHubClient, *, counter: ApiCallCounter | None = None) -> None:
        self._client = client
        if counter is not None:
            counter.attach(client)

    def imported(self, account_id: str, product_arn: str) -> list[dict[str, Any]]:
        """This project's active findings about `account_id`."""
        filters: dict[str, Any] = {
            "ProductArn": [{"Value": product_arn, "Comparison": "EQUALS"}],
            "AwsAccountId": [{"Value": account_id, "Comparison": "EQUALS"}],
            "GeneratorId": [{"Value": GENERATOR_PREFIX, "Comparison": "PREFIX"}],
            "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
        }
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Filters": filters, "MaxResults": 100}
            if token:
                kwargs["NextToken"] = token
            page: Any = self._get_page(kwargs)
            found.extend(
                dict(f)
                for f in page.get("Findings", [])
                if f.get("ProductArn") == product_arn
                and f.get("AwsAccountId") == account_id
                and str(f.get("GeneratorId", "")).startswith(GENERATOR_PREFIX)
                and f.get("RecordState") == "ACTIVE"
            )
            token = page.get("NextToken")
            if not token:
                return found

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> int:
        """Import in batches of 100; the number imported. Raises `ImportFailed` naming refused ids (the
        others of the batch are imported: Security Hub accepts findings one by one)."""
        imported, refused = 0, list[str]()
        for batch in batches(findings):
            response: Any = self._import_batch(batch)
            imported += int(response.get("SuccessCount", 0))
            refused.extend(
                f"{f.get('Id', '?')} ({f.get('ErrorCode', '?')})" for f in response.get("FailedFindings", [])
            )
        if refused:
            detail = f"{len(refused)} refused: {refused[:5]}"
            raise ImportFailed("BatchImportFindings", "FailedFindings", detail)
        return imported

    def _get_page(self, kwargs: dict[str, Any]) -> Any:
        return self._call("GetFindings", lambda: self._client.get_findings(**kwargs))

    def _import_batch(self, batch: list[dict[str, Any]]) -> Any:
        return self._call("BatchImportFindings", lambda: self._client.batch_import_findings(Findings=batch))  # type: ignore[arg-type]

    def _call(self, operation: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except ClientError as error:
            raise translate(error, operation) from error
