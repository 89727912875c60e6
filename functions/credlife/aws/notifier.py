"""A notifier that only logs: one line per outcome. A placeholder until owner email (SES) and the security
topic (SNS) arrive; it names the secret a new key is in, never the key's secret."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from credlife.domain.models import User
from credlife.ports import Outcome

#: It calls no AWS API.
REQUIRED_ACTIONS: Final[tuple[str, ...]] = ()


class LoggingNotifier:
    """`NotifierPort` that writes each outcome to the `credlife.notifier` logger."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("credlife.notifier")

    def notify(self, account_id: str, user: User, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            action = outcome.action
            deadline = action.deadline.isoformat() if action.deadline else None
            level = logging.WARNING if outcome.status == "failed" else logging.INFO
            self._log.log(
                level,
                "%s %s for user %s, key %s: %s (deadline %s)",
                action.action.value,
                outcome.status,
                user.name,
                action.key_id or "-",
                action.reason.value,
                deadline or "-",
                extra={
                    "account_id": account_id,
                    "user": user.name,
                    "key_id": action.key_id,
                    "action": action.action.value,
                    "warns_of": action.warns_of.value if action.warns_of else None,
                    "outcome": outcome.status,
                    "reason": action.reason.value,
                    "control": action.control,
                    "deadline": deadline,
                    "new_key_id": outcome.new_key_id,
                    "secret_name": outcome.secret_name,
                    "dry_run": action.dry_run,
                },
            )
