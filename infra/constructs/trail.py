"""Optional (`create_trail`): a multi-region CloudTrail trail, so console sign-ins and IAM API calls reach
EventBridge at all (DESIGN §4). Its bucket is encrypted, TLS only, private, versioned and access-logged
to a second bucket; log file validation on. Without it, the account must already have a trail."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_s3 as s3
from constructs import Construct


def _bucket(scope: Construct, construct_id: str, **kwargs: object) -> s3.Bucket:
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        removal_policy=RemovalPolicy.RETAIN,
        lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(90))],
        **kwargs,  # type: ignore[arg-type]
    )


class Trail(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # S3 server access logs are delivered under a bucket policy, not the legacy log-delivery ACL
        # (CDK feature flag, set for these buckets only; it must precede them).
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        self.access_log_bucket = _bucket(
            self, "AccessLogBucket", object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED
        )
        self.bucket = _bucket(
            self,
            "Bucket",
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="trail-bucket/",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=self.bucket,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_file_validation=True,
            management_events=cloudtrail.ReadWriteType.ALL,
        )
