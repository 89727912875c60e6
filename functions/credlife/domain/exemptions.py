"""Which users the automation leaves alone, why, who approved it, and until when.

Pure. Sources, in order: the project's own principals, break-glass users, the settings' named exemptions
(`policy.exemptions`), the exempt tag, users outside the configured paths. The first four may end: a named
exemption has an `until` date, and the tag may carry one (`until=2026-06-30 approved=ciso@example.com
reason=vendor appliance`: IAM tag values allow letters, digits, spaces and `_ . : / = + - @`). An exemption
whose end date has passed ends by itself: the usual lifecycle resumes, starting with dated notices.
Permanent exemptions remain possible and are reported as permanent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from credlife.domain.actions import Reason
from credlife.domain.models import User
from credlife.domain.policy import Policy

#: Tag values that switch the exempt tag off.
TAG_OFF: Final = frozenset({"", "false", "no", "0", "off"})
#: `key=value` fields of a structured tag value; a value runs up to the next ` key=` (so it may hold
#: spaces).
_FIELD: Final = re.compile(r"(?:^|\s)(until|approved|approved_by|reason)=(.*?)(?=\s+\w+=|$)")
#: The stage an exempt row carries when its end is near (the owner is told once, dated).
ENDING: Final = "exemption_ending"


@dataclass(frozen=True, slots=True)
class Grant:
    """One exemption in force: its reason code, what it says, and its end (None: permanent)."""

    reason: Reason
    #: The human reason given (tag or settings), or the kind of exemption.
    why: str
    approved_by: str | None = None
    #: The first instant the exemption no longer holds (the day after `until`, 00:00 UTC).
    ends: datetime | None = None
    #: The end date could not be read: held as permanent (when in doubt, leave the user alone) and said.
    unreadable_end: bool = False

    @property
    def permanent(self) -> bool:
        return self.ends is None

    def ending_soon(self, policy: Policy, now: datetime) -> bool:
        """Inside the notice window before its end: the owner gets one dated notice."""
        return self.ends is not None and now >= self.ends - timedelta(days=policy.exemption_notice_days)

    def describe(self) -> str:
        """`exempt_tag until 2026-06-30 (vendor; approved by ciso@example.com)` or `... permanent`."""
        if self.ends is not None:
            last_day = (self.ends - timedelta(days=1)).date().isoformat()
            span = f"until {last_day}"
        else:
            span = "permanent (no end date)" if not self.unreadable_end else "permanent (end date unreadable)"
        approval = f"; approved by {self.approved_by}" if self.approved_by else "; approval not recorded"
        return f"{self.reason.value} {span} ({self.why}{approval})"


def grant(user: User, policy: Policy, now: datetime | None = None) -> Grant | None:
    """The exemption in force for `user` at `now`, or None. Without `now`, dated exemptions are not
    considered (a caller that cannot tell whether they ended must not skip the user)."""
    if user.name in policy.own_principals:
        return Grant(Reason.EXEMPT_OWN_PRINCIPAL, "the automation's own principal")
    if user.name in policy.break_glass_users:
        return Grant(Reason.EXEMPT_BREAK_GLASS, "break-glass user named in the settings")
    for entry in policy.exemptions:
        if entry.user == user.name:
            ends = _day_after(entry.until)
            if _in_force(ends, now):
                return Grant(Reason.EXEMPT_LISTED, entry.reason, entry.approved_by, ends)
    tag = user.tags.get(policy.exempt_tag_key)
    if tag is not None and tag.strip().lower() not in TAG_OFF:
        found = _from_tag(tag.strip())
        if found is not None and _in_force(found.ends, now):
            return found
    if not user.path.startswith(policy.path_prefixes):  # a tuple: any of the prefixes
        return Grant(Reason.EXEMPT_PATH, f"path {user.path} outside the managed paths")
    return None


def _from_tag(value: str) -> Grant | None:
    fields = {key: text.strip() for key, text in _FIELD.findall(value)}
    if not fields:  # a plain value ("true", "vendor"): permanent, the value is the reason
        why = "exempt tag" if value.lower() in {"true", "yes", "1", "on"} else f"exempt tag: {value}"
        return Grant(Reason.EXEMPT_TAG, why)
    why = fields.get("reason") or "exempt tag"
    approved = fields.get("approved") or fields.get("approved_by") or None
    until = fields.get("until")
    if until is None:
        return Grant(Reason.EXEMPT_TAG, why, approved)
    try:
        ends = _day_after(date.fromisoformat(until))
    except ValueError:
        return Grant(Reason.EXEMPT_TAG, why, approved, unreadable_end=True)
    return Grant(Reason.EXEMPT_TAG, why, approved, ends)


def _day_after(until: date | None) -> datetime | None:
    return None if until is None else datetime.combine(until + timedelta(days=1), time(), tzinfo=UTC)


def _in_force(ends: datetime | None, now: datetime | None) -> bool:
    if ends is None:
        return True
    return now is not None and now < ends
