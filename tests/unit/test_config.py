"""Settings: defaults from DESIGN §3, files (JSON/YAML), environment overrides, clear rejections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credlife.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_follow_the_design() -> None:
    policy = load_settings(environ={}).policy
    assert (policy.dry_run, policy.rotate_after_days, policy.unused_after_days, policy.notice_days) == (
        True,
        90,
        45,
        7,
    )
    assert policy.rotation_warn_days == (14, 7, 1)


def test_the_example_file_in_the_repository_is_valid() -> None:
    settings = load_settings(ROOT / "config.example.yaml", environ={})
    assert settings.policy.break_glass_users == ("breakglass-admin",)
    assert settings.policy.dry_run is True


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    file = tmp_path / "c.json"
    file.write_text(json.dumps({"policy": {"dry_run": True, "rotate_after_days": 60}}))
    settings = load_settings(file, environ={"CREDLIFE_DRY_RUN": "false", "CREDLIFE_STATE_TABLE": "t2"})
    assert settings.policy.dry_run is False
    assert settings.policy.rotate_after_days == 60
    assert settings.state_table == "t2"


@pytest.mark.parametrize(
    ("content", "suffix", "expected"),
    [
        ('{"policy": {"rotate_after_dys": 60}}', ".json", "policy.rotate_after_dys: Extra inputs"),
        ("policy:\n  notice_days: soon\n", ".yaml", "policy.notice_days: Input should be a valid integer"),
        ('{"policy": {"path_prefixes": ["people/"]}}', ".json", "must start with '/'"),
        ('{"policy": {"rotation_warn_days": [100]}}', ".json", "smaller than rotate_after_days"),
        ('{"policy": ', ".json", "is not valid JSON"),
        ("[1, 2]", ".yaml", "must hold a mapping"),
    ],
)
def test_a_bad_file_is_rejected_naming_the_field(
    tmp_path: Path, content: str, suffix: str, expected: str
) -> None:
    file = tmp_path / f"bad{suffix}"
    file.write_text(content)
    with pytest.raises(ConfigError) as error:
        load_settings(file, environ={})
    assert expected in str(error.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*nope\.yaml"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_the_require_mfa_policy_arn_comes_from_the_environment_into_the_policy() -> None:
    from credlife.config import load_settings

    arn = "arn:aws:iam::123456789012:policy/credlife-require-mfa"
    settings = load_settings(environ={"CREDLIFE_REQUIRE_MFA_POLICY_ARN": arn})
    assert settings.require_mfa_policy_arn == arn
    assert settings.effective_policy.require_mfa_policy_arn == arn
    assert load_settings(environ={}).effective_policy.require_mfa_policy_arn is None
