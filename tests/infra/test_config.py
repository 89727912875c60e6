"""The `credlife` context: defaults, validation and the runtime config document (no synthesis)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.config import ConfigError, config_from_context
from infra.constants import DEFAULTS, PROJECT_ROOT

pytestmark = pytest.mark.infra


def test_cdk_json_context_equals_the_defaults() -> None:
    # Given cdk.json, When its credlife context is read
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]["credlife"]

    # Then it lists every key with the default value (one place to read what can be set)
    assert context == DEFAULTS


def test_missing_context_gives_the_defaults() -> None:
    # When no context is given
    config = config_from_context(None)

    # Then the safe defaults apply: dry run, daily
    assert config.dry_run is True
    assert config.schedule == "rate(1 day)"
    assert config.permissions_boundary_arn is None
    assert config.runtime_config_json() == '{"policy":{}}'
    # And the report is kept 400 days, without Security Hub
    assert config.report_retention_days == 400
    assert config.security_hub is False


def test_report_and_security_hub_keys_are_read() -> None:
    config = config_from_context({"report_retention_days": 30, "security_hub": True})
    assert (config.report_retention_days, config.security_hub) == (30, True)


def test_context_from_the_command_line_is_a_json_string() -> None:
    # Given `cdk synth -c credlife='{"dry_run": false}'`
    config = config_from_context('{"dry_run": false, "policy": {"rotate_after_days": 60}}')

    # Then it is parsed like the cdk.json object
    assert config.dry_run is False
    assert json.loads(config.runtime_config_json()) == {"policy": {"rotate_after_days": 60}}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"dryrun": True}, "unknown credlife keys: dryrun"),
        ({"dry_run": "false"}, "dry_run must be true or false"),
        ({"policy": {"dry_run": False}}, "set dry_run at the top"),
        ({"policy": [1]}, "policy must be a JSON object"),
        ({"schedule": "daily"}, "schedule must be rate(...) or cron(...)"),
        ({"secret_prefix": "keys/"}, "secret_prefix must be"),
        ({"permissions_boundary_arn": "boundary"}, "permissions_boundary_arn must be a policy ARN"),
        ({"account": "12345"}, "account must be a 12-digit account id"),
        ({"sender_email": "not-an-address"}, "sender_email must be an email address"),
        ({"notifications": []}, "notifications must be a JSON object"),
        ({"risk": "x"}, "risk must be a JSON object"),
        (
            {"signin_regions": "us-east-2"},
            'signin_regions must be "default-enabled" or a list of region names',
        ),
        ({"signin_regions": ["us-east-1"]}, "must not name the home region us-east-1"),
        ({"signin_regions": ["eu-west-1", "eu-west-1"]}, "names a region twice"),
        ({"create_trail": "yes"}, "create_trail must be true or false"),
        ({"security_hub": "true"}, "security_hub must be true or false"),
        ({"report_retention_days": 0}, "report_retention_days must be a whole number of days from 1"),
        ({"report_retention_days": 36501}, "report_retention_days must be a whole number of days from 1"),
        ({"report_retention_days": 30.5}, "report_retention_days must be a whole number of days"),
        ({"report_retention_days": True}, "report_retention_days must be a whole number of days"),
        ("{not json", "is not valid JSON"),
    ],
)
def test_bad_context_fails_synthesis_with_the_key_named(context: Any, message: str) -> None:
    # When a bad value is given, Then the error names the key and what is expected
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_context(context)


class TestSigninRegions:
    """Console sign-ins are judged from every region an attacker can sign in through."""

    def test_default_is_every_default_enabled_region_but_the_home_region(self) -> None:
        from infra.constants import DEFAULT_ENABLED_REGIONS

        regions = config_from_context(None).signin_regions
        assert set(regions) == set(DEFAULT_ENABLED_REGIONS) - {"us-east-1"}
        assert len(regions) == 16
        assert {"eu-west-1", "ap-south-1", "sa-east-1", "us-west-2"} <= set(regions)

    def test_opt_out_removes_and_opt_in_adds(self) -> None:
        config = config_from_context(
            {
                "signin_regions_exclude": ["sa-east-1", "ap-northeast-3"],
                "signin_regions_extra": ["af-south-1"],
            }
        )
        assert "sa-east-1" not in config.signin_regions
        assert "ap-northeast-3" not in config.signin_regions
        assert config.signin_regions[-1] == "af-south-1"
        assert len(config.signin_regions) == 15

    def test_an_explicit_list_still_works(self) -> None:
        config = config_from_context(
            {"signin_regions": ["eu-west-1"], "signin_regions_extra": ["me-south-1"]}
        )
        assert config.signin_regions == ("eu-west-1", "me-south-1")

    @pytest.mark.parametrize(
        ("context", "message"),
        [
            ({"signin_regions": "all"}, 'must be "default-enabled" or a list'),
            ({"signin_regions_exclude": "eu-west-1"}, "signin_regions_exclude must be a list"),
            ({"signin_regions_extra": ["us-east-1"]}, "must not name the home region"),
        ],
    )
    def test_bad_values_name_the_key(self, context: Any, message: str) -> None:
        with pytest.raises(ConfigError, match=re.escape(message)):
            config_from_context(context)
