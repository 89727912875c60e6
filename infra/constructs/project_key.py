"""The project's customer-managed KMS key: state table, handed-over secrets and the security topic."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


def secrets_arn_pattern(stack: Stack, secret_prefix: str) -> str:
    """ARN pattern of every handover secret (`<prefix>/<user>-<6 random chars>`)."""
    return stack.format_arn(
        service="secretsmanager",
        resource="secret",
        resource_name=f"{secret_prefix}/*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class ProjectKey(Construct):
    """A symmetric key with yearly rotation, retained on stack deletion (it protects retained data)."""

    def __init__(self, scope: Construct, construct_id: str, *, retained_key_arn: str | None = None) -> None:
        """`retained_key_arn`: the key kept from a destroyed deployment (with its key policy): use it."""
        super().__init__(scope, construct_id)
        self.key: kms.IKey
        if retained_key_arn is not None:
            self.key = kms.Key.from_key_arn(self, "Key", retained_key_arn)
            return
        self.key = kms.Key(
            self,
            "Key",
            description="credential-lifecycle: state table, new access keys in Secrets Manager, alerts",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def allow_secret_readers(self, secret_prefix: str) -> None:
        """Let a user read the secret holding their new access key: Secrets Manager decrypts on their
        behalf, so the key must allow it through that service only, and only for our secrets. Who may
        read which secret is then decided by the secret's own resource policy."""
        stack = Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowSecretHandoverReadersViaSecretsManager",
                principals=[iam.AnyPrincipal()],
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "kms:CallerAccount": stack.account,
                        "kms:ViaService": f"secretsmanager.{stack.region}.{stack.url_suffix}",
                    },
                    "StringLike": {
                        "kms:EncryptionContext:SecretARN": secrets_arn_pattern(stack, secret_prefix)
                    },
                },
            )
        )
