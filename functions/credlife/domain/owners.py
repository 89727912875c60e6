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
#: A user tag whose value is the ARN of a role (or user) that may also read the user's new-key secret.
DEFAULT_READER_TAG_KEY: Final = "credlife:secret-reader"
#: Who may be named as an extra reader of a handover secret: an IAM role or user of some account.
READER_ARN: Final = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+")


@dataclass(frozen=True, slots=True)
class OwnerRules:
    tag_keys: tuple[str, ...] = DEFAULT_TAG_KEYS
    #: IAM path prefix → owner address, e.g. {"/service/": "platform@example.com"}.
    path_owners: Mapping[str, str] = field(default_factory=dict)
    security_email: str = "security@example.com"
    #: The tag naming an extra reader of the user's handover secret (a role ARN), else `path_readers`.
    reader_tag_key: str = DEFAULT_READER_TAG_KEY
    #: IAM path prefix → a role ARN that may read the handover secrets of users there (longest prefix).
    path_readers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Owner:
    address: str
    #: How the address was found: "tag:<key>", "path:<prefix>", "user-name", "security-default".
    source: str
    #: A principal besides the user itself that may read the user's new-key secret (a role ARN), if any.
    reader: str | None = None


def is_email(value: str) -> bool:
    return bool(EMAIL.fullmatch(value.strip()))


def secret_reader(user: User, rules: OwnerRules) -> str | None:
    """The configured extra reader of the user's handover secret: the reader tag when it holds an IAM
    role or user ARN, else the longest matching path default, else None (only the user itself)."""
    tagged = user.tags.get(rules.reader_tag_key)
    if tagged is not None and READER_ARN.fullmatch(tagged.strip()):
        return tagged.strip()
    matching = [prefix for prefix in rules.path_readers if user.path.startswith(prefix)]
    return rules.path_readers[max(matching, key=len)] if matching else None


def resolve_owner(user: User, rules: OwnerRules) -> Owner:
    owner = _owner(user, rules)
    reader = secret_reader(user, rules)
    return Owner(owner.address, owner.source, reader) if reader else owner


def _owner(user: User, rules: OwnerRules) -> Owner:
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
