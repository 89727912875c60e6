"""On-demand rotation: the rotate-now function (the lifecycle's role) and the rule for the custom
`credlife` / `Rotate Access Key Now` event, with a dead-letter queue and retries."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from infra.constants import (
    EVENTS_MAX_EVENT_AGE_HOURS,
    ROTATE_NOW_ACTIONS,
    ROTATE_NOW_HANDLER,
    ROTATE_NOW_MEMORY_MB,
    ROTATE_NOW_PATTERN,
    ROTATE_NOW_TIMEOUT_SECONDS,
    Scope,
)
from infra.constructs.event_monitor import event_pattern
from infra.constructs.function import ProjectFunction

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
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = ProjectFunction(
            self,
            "Handler",
            description="credential-lifecycle: rotate one user's access key on request",
            handler=ROTATE_NOW_HANDLER,
            timeout_seconds=ROTATE_NOW_TIMEOUT_SECONDS,
            memory_mb=ROTATE_NOW_MEMORY_MB,
            retry_attempts=ROTATE_NOW_RETRY_ATTEMPTS,
            groups=ROTATE_NOW_ACTIONS,
            resources=resources,
            environment=environment,
        )
        self.function = self.handler.function
        self.role = self.handler.role
        self.dead_letter_queue = self.handler.dead_letter_queue
        self.rule = events.Rule(
            self,
            "Rule",
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
