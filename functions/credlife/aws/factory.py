"""Composition root: the one place boto3 clients are created and wired into the lifecycle service.

Clients use botocore's adaptive retry mode (client-side rate limiting plus backoff) because IAM throttles
hard and publishes no rate limits; every client is attached to one API call counter."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from botocore.config import Config

from credlife.aws.calls import ApiCallCounter
from credlife.aws.executor import Executor
from credlife.aws.inventory import IamInventory
from credlife.aws.notifier import LoggingNotifier
from credlife.aws.secrets import KeyVault
from credlife.aws.state_store import DynamoStateStore
from credlife.config import Settings
from credlife.lifecycle import LifecycleService

RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 8})


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    service: LifecycleService
    counter: ApiCallCounter
    inventory: IamInventory
    state: DynamoStateStore


def build_runtime(settings: Settings, session: boto3.Session | None = None) -> Runtime:
    """Everything one account's lifecycle needs, from validated settings and a boto3 session (default
    resolution: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL)."""
    session = session or boto3.Session(region_name=settings.region)
    counter = ApiCallCounter()
    inventory = IamInventory(
        session.client("iam", config=RETRIES), session.client("sts", config=RETRIES), counter=counter
    )
    state = DynamoStateStore(
        settings.state_table, session.client("dynamodb", config=RETRIES), counter=counter
    )
    vault = KeyVault(
        session.client("secretsmanager", config=RETRIES),
        prefix=settings.secret_prefix,
        kms_key_id=settings.kms_key_id,
        counter=counter,
    )
    executor = Executor(session.client("iam", config=RETRIES), vault=vault, state=state, counter=counter)
    service = LifecycleService(
        inventory=inventory,
        state=state,
        executor=executor,
        notifier=LoggingNotifier(),
        policy=settings.policy,
        account_id=inventory.account_id,
        api_calls=counter.snapshot,
    )
    return Runtime(settings, service, counter, inventory, state)
