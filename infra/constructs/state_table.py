"""The state table: lifecycle state, audit records and event history (DESIGN §3, §4)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.constants import TABLE_PARTITION_KEY, TABLE_SORT_KEY, TABLE_TTL_ATTRIBUTE


class StateTable(Construct):
    """Single-table design (string `pk`/`sk`), on demand, encrypted with the project key.

    Point-in-time recovery and RETAIN because the table is the audit trail and the memory of every
    warning sent: losing it would restart every notice period. History rows expire through `expires_at`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, table_name: str, key: kms.IKey, retained: bool = False
    ) -> None:
        """`retained`: the table survives from a destroyed deployment (RETAIN): use it, create none (a
        second table of that name cannot be created)."""
        super().__init__(scope, construct_id)
        self.table: dynamodb.ITable
        if retained:
            self.table = dynamodb.Table.from_table_attributes(
                self, "Table", table_name=table_name, encryption_key=key
            )
            return
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=table_name,
            partition_key=dynamodb.Attribute(name=TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=TABLE_SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            time_to_live_attribute=TABLE_TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.RETAIN,
        )
