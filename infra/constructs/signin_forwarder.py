"""The regional forwarder (DESIGN §4): IAM-user console sign-ins are logged in the region of the sign-in
endpoint, not only us-east-1, and the root user can act in any region. In each region a rule sends console
sign-ins and root activity to the home region's default event bus (a role that may only put events there),
with a dead-letter queue (EventBridge's default retry policy: 24 hours, 185 attempts; an EventBus target
takes no other). In us-east-1, when the home region is elsewhere, IAM API calls are forwarded too: they
reach EventBridge only there.

Cost: the rules and the queues cost nothing at rest; each forwarded event is a cross-region event ($1 per
million in 2026 prices) and console sign-ins are few (a 1,000-user account: ~30,000 a month, $0.03)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from infra.constants import IAM_EVENTS_REGION, IAM_PATTERN, ROOT_PATTERN, SIGNIN_PATTERN
from infra.constructs.event_monitor import event_pattern
from infra.constructs.function import encrypted_queue


class SigninForwarder(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        home_region: str,
        home_account: str | None = None,
        region: str | None = None,
        iam_events: bool | None = None,
    ) -> None:
        """`home_account`: the account whose bus receives (None: this stack's). `iam_events`: also forward
        IAM API calls (None: when this is us-east-1 and the home region is not)."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.home_bus_arn = stack.format_arn(
            service="events",
            region=home_region,
            account=home_account,
            resource="event-bus",
            resource_name="default",
        )
        self.dead_letter_queue = encrypted_queue(self, "DeadLetterQueue")
        bus = events.EventBus.from_event_bus_arn(self, "HomeBus", self.home_bus_arn)
        target = targets.EventBus(bus, dead_letter_queue=self.dead_letter_queue)
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"credential-lifecycle: console sign-ins to the home region's bus ({home_region})",
            event_pattern=event_pattern(SIGNIN_PATTERN),
            targets=[target],
        )
        self.root_rule = events.Rule(
            self,
            "RootRule",
            description=f"credential-lifecycle: root activity to the home region's bus ({home_region})",
            event_pattern=event_pattern(ROOT_PATTERN),
            targets=[target],
        )
        if iam_events is None:
            iam_events = region == IAM_EVENTS_REGION and home_region != IAM_EVENTS_REGION
        self.iam_rule: events.Rule | None = None
        if iam_events:
            self.iam_rule = events.Rule(
                self,
                "IamRule",
                description=f"credential-lifecycle: IAM API calls to the home region's bus ({home_region})",
                event_pattern=event_pattern(IAM_PATTERN),
                targets=[target],
            )
