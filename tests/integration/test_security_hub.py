"""The Security Hub and report-bucket adapters against moto: batching, paging, refusals, object keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from credlife import asff
from credlife.aws.calls import ApiCallCounter
from credlife.aws.report_store import REQUIRED_ACTIONS as REPORT_ACTIONS
from credlife.aws.report_store import S3ReportStore
from credlife.aws.security_hub import REQUIRED_ACTIONS, ImportFailed, SecurityHubFindings

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
REGION = "us-east-1"
PRODUCT = asff.product_arn("aws", REGION, ACCOUNT)
AT = "2026-06-01T12:00:00.000Z"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("securityhub", region_name=REGION)
        client.enable_security_hub()
        yield client


def finding(n: int, *, generator: str = "credlife/IAM.3", resources: bool = True) -> dict[str, Any]:
    return {
        "SchemaVersion": asff.SCHEMA_VERSION,
        "Id": f"credlife/{ACCOUNT}/user-{n}/access_key/x/IAM.3",
        "ProductArn": PRODUCT,
        "GeneratorId": generator,
        "AwsAccountId": ACCOUNT,
        "Types": list(asff.TYPES),
        "CreatedAt": AT,
        "UpdatedAt": AT,
        "Severity": {"Label": "MEDIUM"},
        "Title": "t",
        "Description": "d",
        "Resources": [{"Type": "AwsIamUser", "Id": f"arn:aws:iam::{ACCOUNT}:user/user-{n}"}]
        if resources
        else [],
        "RecordState": "ACTIVE",
    }


def test_findings_are_imported_100_per_call_and_read_back_across_pages(hub: Any) -> None:
    counter = ApiCallCounter()
    adapter = SecurityHubFindings(hub, counter=counter)
    assert adapter.import_findings([finding(i) for i in range(250)]) == 250
    assert counter.snapshot() == {"securityhub:BatchImportFindings": 3}
    hub.batch_import_findings(Findings=[finding(999, generator="another-tool/x")])
    back = adapter.imported(ACCOUNT, PRODUCT)
    assert len(back) == 250, "every page read, another tool's finding filtered out"
    assert counter.calls["securityhub:GetFindings"] == 3
    assert set(counter.snapshot()) == set(REQUIRED_ACTIONS)


def test_refused_findings_are_named_by_id_and_the_rest_are_imported(hub: Any) -> None:
    adapter = SecurityHubFindings(hub)
    with pytest.raises(ImportFailed) as raised:
        adapter.import_findings([finding(1), finding(2, resources=False)])
    assert "user-2" in str(raised.value)
    assert "user-1" not in str(raised.value)
    assert [f["Id"] for f in adapter.imported(ACCOUNT, PRODUCT)] == [finding(1)["Id"]]


def test_the_report_is_written_under_its_date_and_latest_with_content_types(hub: Any) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="reports-bucket")
    counter = ApiCallCounter()
    store = S3ReportStore(s3, bucket="reports-bucket", prefix="/reports/", counter=counter)
    written = store.put(
        ACCOUNT, datetime(2026, 6, 1, 23, 30, tzinfo=UTC), {"report.html": "<p>é</p>", "report.csv": "a,b\n"}
    )
    assert written == [
        f"reports/{ACCOUNT}/2026-06-01/report.html",
        f"reports/{ACCOUNT}/latest/report.html",
        f"reports/{ACCOUNT}/2026-06-01/report.csv",
        f"reports/{ACCOUNT}/latest/report.csv",
    ]
    assert counter.snapshot() == {"s3:PutObject": 4}
    assert set(counter.snapshot()) == set(REPORT_ACTIONS)
    html = s3.get_object(Bucket="reports-bucket", Key=f"reports/{ACCOUNT}/latest/report.html")
    assert html["ContentType"] == "text/html; charset=utf-8"
    assert html["Body"].read().decode("utf-8") == "<p>é</p>"
    assert html["Metadata"]["account-id"] == ACCOUNT
