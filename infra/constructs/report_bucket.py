"""The compliance report bucket (issue 8): every scheduled run writes `reports/<account>/<date>/report.*`
and `reports/<account>/latest/report.*` here, and nothing else does.

Encrypted with the project key (SSE-KMS, S3 Bucket Key on), like the state table and the handover
secrets: the report lists every IAM user with its credentials' ages and findings, so reading it takes
both `s3:GetObject` and `kms:Decrypt` on the project key (granted by IAM policies in this account; the
key policy delegates to IAM), and key use is logged in CloudTrail. The writers need no extra KMS grant:
they already hold `kms:GenerateDataKey`/`kms:Decrypt` on that key (`KMS_INDIRECT_ACTIONS`). The Bucket
Key keeps KMS requests (and their cost) to about one per bucket and key period instead of one per object.

Versioned, private, TLS only, and access-logged to a second bucket. That bucket is SSE-S3, not SSE-KMS:
S3 server access log delivery cannot write to a bucket encrypted with a customer managed key.

Both buckets are RETAIN: reports and their access logs are audit evidence, so deleting the stack must not
delete them. Their lifecycle rules still apply after the stack is gone: reports (current versions) and
access logs expire after `retention_days`, replaced report versions after `NONCURRENT_DAYS`, and
incomplete multipart uploads are aborted after `MULTIPART_DAYS`.

The writers' grant (`s3:PutObject` on `<bucket ARN>/reports/*` only, `infra.constants.REPORT_ACTIONS`) is
made by the function constructs, like every other action group."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

#: Days a replaced version (yesterday's `latest/` report) is kept.
NONCURRENT_DAYS = 30
#: Days before an unfinished multipart upload's parts are removed.
MULTIPART_DAYS = 7
#: Prefix of the report bucket's entries in the access-log bucket.
ACCESS_LOG_PREFIX = "report-bucket/"


class ReportBucket(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, retention_days: int) -> None:
        super().__init__(scope, construct_id)
        # S3 server access logs are delivered under a bucket policy, not the legacy log-delivery ACL
        # (CDK feature flag, set for these buckets only; it must precede them).
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=Duration.days(retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(MULTIPART_DAYS),
                )
            ],
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix=ACCESS_LOG_PREFIX,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireReports",
                    expiration=Duration.days(retention_days),
                    noncurrent_version_expiration=Duration.days(NONCURRENT_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(MULTIPART_DAYS),
                )
            ],
        )
