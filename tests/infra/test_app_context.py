"""The app's settings as the CDK CLI hands them over: `cdk.json`'s `credlife` with `-c credlife='{...}'`
merged over it, validated whole at synthesis with the runtime's own pydantic models (a misspelled nested
setting exits non-zero, naming it), the home region pinned or refused, reproducible CLI and layer."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

import app as app_module
from credlife.domain.exemptions import grant
from credlife.domain.models import User
from credlife.domain.policy import Policy
from infra.build import app_config
from infra.config import ConfigError, config_from_context, merge_context
from infra.constants import (
    CONTEXT_KEY,
    DEFAULT_EXEMPT_TAG_KEY,
    DEFAULTS,
    EXEMPT_TAG_PERMANENT_VALUES,
    POWERTOOLS_LAYER_PARAMETER,
    POWERTOOLS_VERSION,
)

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = ROOT / "cdk.json"


def cli_environment(credlife: Any) -> dict[str, str]:
    """What the CDK CLI sets for `cdk synth -c credlife='<credlife as JSON>'`."""
    file_context = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    return {"CDK_CONTEXT_JSON": json.dumps({**file_context, CONTEXT_KEY: json.dumps(credlife)})}


def configured(cdk_json: Path, environ: dict[str, str]) -> Any:
    file_context, merged = app_module.app_context(cdk_json, environ)
    app = cdk.App(context=file_context, post_cli_context={CONTEXT_KEY: merged})
    return app_config(app)


# -- -c credlife=... merges with cdk.json --------------------------------------------------------------


def test_cli_context_is_merged_over_cdk_json_keeping_its_other_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a cdk.json with organization mode and a sender
    cdk_json = tmp_path / "cdk.json"
    context = {
        **DEFAULTS,
        "organization": {"enabled": True, "include_ous": ["ou-ab12-cd34ef56"]},
        "sender_email": "credlife@example.com",
        "policy": {"notice_days": 10},
    }
    cdk_json.write_text(json.dumps({"context": {CONTEXT_KEY: context}}), encoding="utf-8")
    # When the operator goes live from the command line (the CLI passes the whole context, its `-c`
    # value a JSON string replacing cdk.json's object)
    environ = {
        "CDK_CONTEXT_JSON": json.dumps(
            {CONTEXT_KEY: json.dumps({"dry_run": False, "policy": {"rotate_after_days": 60}})}
        )
    }
    monkeypatch.setenv("CDK_CONTEXT_JSON", environ["CDK_CONTEXT_JSON"])
    config = configured(cdk_json, environ)

    # Then that setting changes and every other one of cdk.json stays, nested ones merged key by key
    assert config.dry_run is False
    assert config.organization is not None
    assert dict(config.organization.filters) == {"include_ous": ["ou-ab12-cd34ef56"]}
    assert config.sender_email == "credlife@example.com"
    assert dict(config.policy) == {"notice_days": 10, "rotate_after_days": 60}


def test_merge_replaces_lists_and_scalars_and_accepts_either_side_missing() -> None:
    base = {"signin_regions": ["us-east-2"], "policy": {"a": 1}, "dry_run": True}
    assert merge_context(base, None) == base
    assert merge_context(None, '{"dry_run": false}') == {"dry_run": False}
    assert merge_context(base, {"signin_regions": [], "policy": {"b": 2}}) == {
        "signin_regions": [],
        "policy": {"a": 1, "b": 2},
        "dry_run": True,
    }
    with pytest.raises(ConfigError, match="not valid JSON"):
        merge_context(base, "{dry_run: false")


# -- the whole context validated with the runtime's models ---------------------------------------------------


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"policy": {"rotate_after_dayz": 30}}, "policy.rotate_after_dayz"),
        ({"policy": {"notice_days": "soon"}}, "policy.notice_days"),
        ({"notifications": {"security_emial": "x@example.com"}}, "notifications.security_emial"),
        ({"notifications": {"path_owners": {"svc/": "a@example.com"}}}, "notifications.path_owners"),
        ({"risk": {"brute_force_treshold": 3}}, "risk.brute_force_treshold"),
        ({"organization": {"enabled": True, "include_accounts": ["12"]}}, "organization.include_accounts"),
        ({"organization": {"enabled": True, "exclude_tagz": {}}}, "exclude_tagz"),
        ({"event_clock_tolerance_minutes": 0}, "event_clock_tolerance_minutes"),
    ],
)
def test_a_misspelled_or_mistyped_nested_setting_fails_synthesis_naming_it(
    context: dict[str, Any], named: str
) -> None:
    app = cdk.App(context={CONTEXT_KEY: context})
    with pytest.raises(ConfigError, match=re.escape(named)):
        app_config(app)


def test_cdk_synth_with_a_misspelled_setting_exits_2_naming_it(tmp_path: Path) -> None:
    # When the app runs as the CDK CLI runs it, with a typo inside `policy`
    environ = {
        **os.environ,
        **cli_environment({"policy": {"rotate_after_dayz": 30}}),
        "CDK_OUTDIR": str(tmp_path / "out"),
    }
    result = subprocess.run(  # noqa: S603 - our own app with our own interpreter
        [sys.executable, str(ROOT / "app.py")],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        check=False,
        timeout=600,
    )

    # Then it exits 2 with one line naming the setting, and writes no template
    assert result.returncode == 2, result.stderr
    assert "policy.rotate_after_dayz" in result.stderr
    assert "Extra inputs are not permitted" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


# -- the home region -----------------------------------------------------------------------------------------


def test_a_home_region_without_iam_events_is_refused_saying_why_and_what_to_set() -> None:
    with pytest.raises(ConfigError) as refused:
        config_from_context({"region": "eu-west-1"})
    message = str(refused.value)
    assert "credlife.region is eu-west-1" in message
    assert "IAM API calls and root console sign-ins reach EventBridge only in us-east-1" in message
    assert "set credlife.region to us-east-1" in message


@pytest.mark.parametrize("region", [None, "us-east-1", "us-gov-west-1"])
def test_regions_that_receive_iam_events_are_accepted(region: str | None) -> None:
    config = config_from_context({"region": region, "signin_regions": []})
    assert config.home_region == (region or "us-east-1")


# -- reproducible CLI and layer ------------------------------------------------------------------------------


def test_the_cdk_cli_is_locked_and_installed_with_npm_ci() -> None:
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    pinned = package["devDependencies"]["aws-cdk"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned)
    assert lock["packages"][""]["devDependencies"] == {"aws-cdk": pinned}
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == pinned
    assert lock["packages"]["node_modules/aws-cdk"]["integrity"].startswith("sha512-")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "npm ci" in readme
    assert "npm install" not in readme


def test_powertools_layer_is_pinned_to_the_locked_powertools_version() -> None:
    lock = (ROOT / "uv.lock").read_text(encoding="utf-8")
    locked = re.search(r'name = "aws-lambda-powertools"\nversion = "([^"]+)"', lock)
    assert locked is not None
    assert locked.group(1) == POWERTOOLS_VERSION
    assert POWERTOOLS_LAYER_PARAMETER.endswith(f"/python3.12/{POWERTOOLS_VERSION}")
    assert "latest" not in POWERTOOLS_LAYER_PARAMETER


def test_the_exempt_deny_covers_only_tags_the_planner_reads_as_exempt_for_good() -> None:
    policy = Policy()
    assert policy.exempt_tag_key == DEFAULT_EXEMPT_TAG_KEY
    for value in (*EXEMPT_TAG_PERMANENT_VALUES, "TRUE", "Yes"):
        user = User(name="u", arn="arn:aws:iam::123456789012:user/u", tags={DEFAULT_EXEMPT_TAG_KEY: value})
        granted = grant(user, policy)
        # Then the planner exempts the user too, with no end (an IAM Deny never outlasts an exemption)
        assert granted is not None, value
        assert granted.ends is None, value
