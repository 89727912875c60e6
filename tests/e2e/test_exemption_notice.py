"""An exemption's end, through the scheduled handler: the owner gets one dated email before it ends, and
after it the user's credentials are managed again (the aged key is rotated), with no action before then."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.test_notifications import NOW, Env, env, invoke  # noqa: F401 - `env` is a fixture

pytestmark = pytest.mark.e2e


def test_an_ending_exemption_is_announced_once_then_ends_by_itself(env: Env) -> None:  # noqa: F811
    # Given an aged key of a user exempt until 10 days from now, approved by the CISO
    until = (NOW + timedelta(days=10)).date()
    env.aws.user(
        "olga.vendor",
        now=NOW,
        tags={
            "owner": "olga@example.com",
            "credlife:exempt": f"until={until.isoformat()} approved=ciso@example.com reason=vendor appliance",
        },
    )
    old = env.aws.key("olga.vendor", now=NOW, age=120, used_ago=1)

    # When the daily run happens today and tomorrow
    invoke()
    invoke(NOW + timedelta(days=1))

    # Then the owner got one email naming the end date, and the key is untouched
    mails = [m for m in env.emails() if m.to == "olga@example.com"]
    assert len(mails) == 1
    ends = (until + timedelta(days=1)).isoformat()
    assert f"exemption ends on {ends} 00:00 UTC" in mails[0].text
    assert env.aws.keys("olga.vendor") == {old: "Active"}

    # When the run after the end happens
    invoke(NOW + timedelta(days=12))

    # Then the exemption has ended by itself: the aged key is rotated (a new key beside it, nothing broken)
    keys = env.aws.keys("olga.vendor")
    assert keys[old] == "Active"
    assert len(keys) == 2
