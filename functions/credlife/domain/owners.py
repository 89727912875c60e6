"""Who owns an IAM user, and so who is told about its credentials.

Pure. The owner comes from, in order: the user's tags (the configured keys, first that holds an email
address), a default per IAM path prefix (the longest matching prefix wins), the user name itself when it is
an email address, else the security team. The source of the answer travels with it (audited)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from credlife.domain.models import User

#: Deliberately plain: one address, no display name, no spaces, a dot in the domain.
EMAIL: Final = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")

DEFAULT_TAG_KEYS: Final = ("owner", "email", "team-email")


@dataclass(frozen=True, slots=True)
class OwnerRules:
    tag_keys: tuple[str, ...] = DEFAULT_TAG_KEYS
    #: IAM path prefix → owner address, e.g. {"/service/": "platform@example.com"}.
    path_owners: Mapping[str, str] = field(default_factory=dict)
    security_email: str = "security@example.com"


@dataclass(frozen=True, slots=True)
class Owner:
    address: str
    #: How the address was found: "tag:<key>", "path:<prefix>", "user-name", "security-default".
    source: str


def is_email(value: str) -> bool:
    return bool(EMAIL.fullmatch(value.strip()))


def resolve_owner(user: User, rules: OwnerRules) -> Owner:
    lowered = {key.lower(): value for key, value in user.tags.items()}
    for key in rules.tag_keys:
        value = user.tags.get(key, lowered.get(key.lower()))
        if value is not None and is_email(value):
            return Owner(value.strip(), f"tag:{key}")
    matching = [prefix for prefix in rules.path_owners if user.path.startswith(prefix)]
    if matching:
        prefix = max(matching, key=len)
        return Owner(rules.path_owners[prefix], f"path:{prefix}")
    if is_email(user.name):
        return Owner(user.name, "user-name")
    return Owner(rules.security_email, "security-default")
