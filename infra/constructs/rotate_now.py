"""On-demand rotation: the rotate-now function (a role with the lifecycle's reads and access-key steps
only), its own event bus, and the rule for the custom `credlife` / `Rotate Access Key Now` event there,
with a dead-letter queue.

The bus is not the default one: anyone allowed `events:PutEvents` on the default bus could otherwise ask
for a rotation. The bus policy denies `PutEvents` to every principal but `rotate_now_requesters` (an
explicit Deny also binds principals of this account, whose own policies might allow it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from infra.constants import (
    EVENTS_MAX_EVENT_AGE_HOURS,
    ROTATE_NOW_BUS_NAME,
    ROTATE_NOW_HANDLER,
    ROTATE_NOW_MEMORY_MB,
    ROTATE_NOW_PATTERN,
    ROTATE_NOW_TIMEOUT_SECONDS,
    Scope,
)
from infra.constructs.event_monitor import event_pattern
from infra.constructs.function import ProjectFunction
from infra.permissions import rotate_now_groups

#: A rotation must not run twice for one request: no asynchronous retry (the state table makes a
#: redelivery harmless, but a failed request is better reported than repeated).
ROTATE_NOW_RETRY_ATTEMPTS = 0


class RotateNow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        resources: Mapping[Scope, list[str]],
        environment: Mapping[str, str],
        exempt_tag_key: str,
        requesters: Sequence[str],
    ) -> None:
        """`requesters`: IAM principal ARN patterns that may put requests on the bus (none: nobody)."""
        super().__init__(scope, construct_id)
        self.handler = ProjectFunction(
            self,
            "Handler",
            description="credential-lifecycle: rotate one user's access key on request",
            handler=ROTATE_NOW_HANDLER,
            timeout_seconds=ROTATE_NOW_TIMEOUT_SECONDS,
            memory_mb=ROTATE_NOW_MEMORY_MB,
            retry_attempts=ROTATE_NOW_RETRY_ATTEMPTS,
            groups=rotate_now_groups(),
            resources=resources,
            environment=environment,
            exempt_tag_key=exempt_tag_key,
        )
        self.function = self.handler.function
        self.role = self.handler.role
        self.dead_letter_queue = self.handler.dead_letter_queue
        self.bus = events.EventBus(self, "Bus", event_bus_name=ROTATE_NOW_BUS_NAME)
        deny: dict[str, Any] = {
            "Sid": "OnlyRotateNowRequesters",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "events:PutEvents",
            # by name: the bus's own Arn attribute would make it depend on itself
            "Resource": Stack.of(self).format_arn(
                service="events", resource="event-bus", resource_name=ROTATE_NOW_BUS_NAME
            ),
        }
        if requesters:
            deny["Condition"] = {"ArnNotLike": {"aws:PrincipalArn": list(requesters)}}
        bus_resource = self.bus.node.default_child
        assert isinstance(bus_resource, events.CfnEventBus)
        # the bus's own `Policy` property (the L2's separate EventBusPolicy resource trips a deprecation)
        bus_resource.add_property_override("Policy", {"Version": "2012-10-17", "Statement": [deny]})
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=self.bus,
            description="credential-lifecycle: rotate-now requests (source credlife)",
            event_pattern=event_pattern(ROTATE_NOW_PATTERN),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=2,
                    max_event_age=Duration.hours(EVENTS_MAX_EVENT_AGE_HOURS),
                )
            ],
        )
