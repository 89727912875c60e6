"""The scheduled run publishes: the compliance report to the report bucket and the findings to Security Hub
(ASFF, `BatchImportFindings`), both against moto, through the real scheduled handler built from the
environment the stack sets (`CREDLIFE_REPORT_BUCKET`, `CREDLIFE_SECURITY_HUB_ENABLED`).

Credentials are aged through moto's stored state (see `tests/e2e/conftest.py`); "fixing" one is what an
owner would do: delete the old key, enable an MFA device. moto's GetFindings ignores filters, so the
adapter's own filtering (only this project's findings) is exercised too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
import time_machine
from moto.iam.models import iam_backends

from credlife.aws.state_store import create_state_table
from credlife.handlers import scheduled
from tests.e2e.conftest import ACCOUNT, REGION, Account, LambdaContext, event_time, failing, scheduled_event

pytestmark = pytest.mark.e2e

TABLE = "credlife-publish-state"
BUCKET = "credlife-reports-e2e"
NOW = event_time(scheduled_event())
PRODUCT = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"


@pytest.fixture
def stack(aws: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    monkeypatch.setenv("CREDLIFE_STATE_TABLE", TABLE)
    monkeypatch.setenv("CREDLIFE_REPORT_BUCKET", BUCKET)
    monkeypatch.setenv("CREDLIFE_SECURITY_HUB_ENABLED", "true")
    create_state_table(aws.dynamodb, TABLE)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    boto3.client("securityhub", region_name=REGION).enable_security_hub()
    scheduled.use_runtime(None)
    try:
        yield aws
    finally:
        scheduled.use_runtime(None)


def run(at: datetime) -> dict[str, Any]:
    with time_machine.travel(at, tick=False):
        response: dict[str, Any] = scheduled.handler(scheduled_event(at), LambdaContext())
    return response


def findings() -> dict[str, dict[str, Any]]:
    hub = boto3.client("securityhub", region_name=REGION)
    return {f["Id"]: dict(f) for f in hub.get_findings()["Findings"]}


def ours(user: str, control: str) -> dict[str, Any]:
    matches = [
        f
        for f in findings().values()
        if f["ProductFields"].get("credlife/user") == user and f["GeneratorId"] == f"credlife/{control}"
    ]
    assert len(matches) == 1, [f["Id"] for f in findings().values()]
    return matches[0]


def seed(aws: Account) -> dict[str, str]:
    aws.user("old-key", now=NOW, tags={"owner": "old@example.com"})
    old_key = aws.key("old-key", now=NOW, age=120, used_ago=1)
    aws.user("no-mfa", now=NOW, tags={"owner": "nomfa@example.com"})
    aws.iam.create_login_profile(UserName="no-mfa", Password="Ok-Pass-Word-1234!")
    aws.user("fine", now=NOW)
    fine_key = aws.key("fine", now=NOW, age=10, used_ago=1)
    return {"old_key": old_key, "fine_key": fine_key}


def test_a_run_writes_the_report_to_the_bucket_under_its_date_and_latest(stack: Account) -> None:
    keys = seed(stack)
    response = run(NOW)
    assert response["status"] == "ok", response["failures"]
    s3 = boto3.client("s3", region_name=REGION)
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    day = NOW.strftime("%Y-%m-%d")
    assert listed == sorted(
        f"reports/{ACCOUNT}/{where}/report.{ext}"
        for where in (day, "latest")
        for ext in ("csv", "html", "json")
    )
    page = s3.get_object(Bucket=BUCKET, Key=f"reports/{ACCOUNT}/latest/report.html")
    assert page["ContentType"].startswith("text/html")
    html = page["Body"].read().decode()
    assert 'id="chart-key-age"' in html
    assert "old-key" in html
    document = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"reports/{ACCOUNT}/{day}/report.json")["Body"].read()
    )
    by_key = {r["key_id"]: r for r in document["rows"] if r["key_id"]}
    assert by_key[keys["old_key"]]["reason"] == "key_rotation_due"
    fine = [r for r in document["rows"] if r["user"] == "fine"]
    assert [(r["credential"], r["action"]) for r in fine] == [("access_key", "none")]  # no id: never resolved
    assert document["actions_taken"], "the run's own audited results are in the report"


def test_findings_are_imported_with_their_controls_and_resolved_when_the_credential_is_fixed(
    stack: Account,
) -> None:
    keys = seed(stack)
    assert run(NOW)["status"] == "ok"

    key_finding = ours("old-key", "IAM.3")
    assert key_finding["ProductArn"] == PRODUCT
    assert key_finding["AwsAccountId"] == ACCOUNT
    assert key_finding["Compliance"]["Status"] == "FAILED"
    assert (
        "AWS Foundational Security Best Practices v1.0.0 IAM.3"
        in key_finding["Compliance"]["RelatedRequirements"]
    )
    assert "CIS AWS Foundations Benchmark v7.0.0 2.12" in key_finding["Compliance"]["RelatedRequirements"]
    assert key_finding["Resources"][0] == {
        "Type": "AwsIamAccessKey",
        "Id": keys["old_key"],
        "Partition": "aws",
        "Region": REGION,
        "Details": {
            "AwsIamAccessKey": {
                "PrincipalName": "old-key",
                "PrincipalType": "IAMUser",
                "Status": "Active",
                "CreatedAt": key_finding["Resources"][0]["Details"]["AwsIamAccessKey"]["CreatedAt"],
            }
        },
    }
    mfa_finding = ours("no-mfa", "IAM.5")
    assert mfa_finding["RecordState"] == "ACTIVE"
    assert not [f for f in findings().values() if f["ProductFields"].get("credlife/user") == "fine"]

    # the owners fix their credentials: the old key deleted by hand, an MFA device enabled
    stack.iam.delete_access_key(UserName="old-key", AccessKeyId=keys["old_key"])
    serial = stack.iam.create_virtual_mfa_device(VirtualMFADeviceName="no-mfa")["VirtualMFADevice"][
        "SerialNumber"
    ]
    stack.iam.enable_mfa_device(
        UserName="no-mfa", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    later = NOW + timedelta(days=1)
    assert run(later)["status"] == "ok"

    for user, control, first in (("old-key", "IAM.3", key_finding), ("no-mfa", "IAM.5", mfa_finding)):
        resolved = ours(user, control)
        assert resolved["RecordState"] == "ARCHIVED"
        assert resolved["Compliance"]["Status"] == "PASSED"
        assert resolved["CreatedAt"] == first["CreatedAt"]
        assert resolved["UpdatedAt"] > first["UpdatedAt"]


def test_an_unchanged_finding_is_not_sent_again_and_another_products_findings_are_untouched(
    stack: Account,
) -> None:
    seed(stack)
    hub = boto3.client("securityhub", region_name=REGION)
    foreign = {
        "SchemaVersion": "2018-10-08",
        "Id": "someone-else/1",
        "ProductArn": PRODUCT,
        "GeneratorId": "another-tool/IAM.3",
        "AwsAccountId": ACCOUNT,
        "Types": ["Software and Configuration Checks"],
        "CreatedAt": "2026-01-01T00:00:00.000Z",
        "UpdatedAt": "2026-01-01T00:00:00.000Z",
        "Severity": {"Label": "LOW"},
        "Title": "not ours",
        "Description": "not ours",
        "Resources": [{"Type": "Other", "Id": "x"}],
        "RecordState": "ACTIVE",
    }
    hub.batch_import_findings(Findings=[foreign])  # type: ignore[list-item]
    assert run(NOW)["status"] == "ok"
    first = {k: v["UpdatedAt"] for k, v in findings().items()}
    with failing("BatchImportFindings") as attempted:
        assert run(NOW + timedelta(days=1))["status"] == "ok"
    assert attempted == [], "nothing changed: no finding is sent again"
    assert {k: v["UpdatedAt"] for k, v in findings().items()} == first
    assert findings()["someone-else/1"]["RecordState"] == "ACTIVE"
    assert findings()["someone-else/1"]["UpdatedAt"] == "2026-01-01T00:00:00.000Z"


def test_a_failing_destination_is_a_recorded_failure_and_does_not_stop_the_other(stack: Account) -> None:
    seed(stack)
    with failing("PutObject", "AccessDenied"):
        response = run(NOW)
    assert response["status"] == "failed"
    assert any("report not published" in f and "report: AccessDenied" in f for f in response["failures"]), (
        response
    )
    assert ours("old-key", "IAM.3")["RecordState"] == "ACTIVE", "Security Hub still got the findings"

    with failing("GetFindings", "InvalidAccessException"):
        response = run(NOW + timedelta(days=1))
    assert any("security hub" in f for f in response["failures"]), response
    s3 = boto3.client("s3", region_name=REGION)
    day = (NOW + timedelta(days=1)).strftime("%Y-%m-%d")
    assert s3.get_object(Bucket=BUCKET, Key=f"reports/{ACCOUNT}/{day}/report.csv")["ContentLength"] > 0


def test_nothing_secret_is_published(stack: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(stack)
    monkeypatch.setenv("CREDLIFE_DRY_RUN", "false")  # rotate for real: a new secret exists somewhere
    response = run(NOW)
    assert response["outcomes"].get("rotate:applied") == 1, response
    s3 = boto3.client("s3", region_name=REGION)
    published = "".join(
        s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read().decode()
        for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    ) + json.dumps(list(findings().values()), default=str)
    secrets = [
        stored.secret_access_key
        for user in stack.users
        for stored in iam_backends[ACCOUNT]["global"].users[user].access_keys
    ]
    assert len(secrets) == 3
    assert not [s for s in secrets if s in published]
    assert "SecretAccessKey" not in published
