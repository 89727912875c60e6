"""The notifier: routes an owner's digest to the owner channels (SES email) and the run summary to the
security channels (the SNS topic). A message counts as delivered when every channel of its audience
accepted it; the first failure is raised (the caller leaves the items pending for the next run)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from credlife.aws import channels
from credlife.ports import ChannelPort, OutgoingMessage

#: It calls AWS only through its channels.
REQUIRED_ACTIONS: Final[tuple[str, ...]] = channels.REQUIRED_ACTIONS


class Notifier:
    """`NotifierPort` over any number of channels per audience."""

    def __init__(self, *, owner: Sequence[ChannelPort], security: Sequence[ChannelPort]) -> None:
        if not owner or not security:
            raise ValueError("each audience needs at least one channel (LoggingChannel as a fallback)")
        self.owner_channels = tuple(owner)
        self.security_channels = tuple(security)

    def to_owner(self, message: OutgoingMessage) -> str:
        return _send_all(self.owner_channels, message)

    def to_security(self, message: OutgoingMessage) -> str:
        return _send_all(self.security_channels, message)


def _send_all(targets: Sequence[ChannelPort], message: OutgoingMessage) -> str:
    return ";".join(f"{channel.name}:{channel.send(message)}" for channel in targets)
