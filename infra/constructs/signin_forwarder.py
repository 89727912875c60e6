"""The regional sign-in forwarder (DESIGN §4): IAM-user console sign-ins are logged in the region of the
sign-in endpoint, not only us-east-1. In each such region a rule sends them to the home region's default
event bus (a role that may only put events there), with a dead-letter queue (EventBridge's default
retry policy: 24 hours, 185 attempts; an EventBus target takes no other)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from infra.constants import SIGNIN_PATTERN
from infra.constructs.event_monitor import event_pattern
from infra.constructs.function import encrypted_queue


class SigninForwarder(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, home_region: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.home_bus_arn = stack.format_arn(
            service="events", region=home_region, resource="event-bus", resource_name="default"
        )
        self.dead_letter_queue = encrypted_queue(self, "DeadLetterQueue")
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"credential-lifecycle: console sign-ins to the home region's bus ({home_region})",
            event_pattern=event_pattern(SIGNIN_PATTERN),
            targets=[
                targets.EventBus(
                    events.EventBus.from_event_bus_arn(self, "HomeBus", self.home_bus_arn),
                    dead_letter_queue=self.dead_letter_queue,
                )
            ],
        )
