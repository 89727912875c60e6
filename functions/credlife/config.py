"""Runtime settings: the lifecycle policy plus where the state, secrets and notices go.

Read once at the edge (Lambda cold start, CLI start) from, in increasing priority: defaults, a JSON/YAML
file (`--config FILE` or `CREDLIFE_CONFIG_FILE`), a JSON document in `CREDLIFE_CONFIG`, and single
`CREDLIFE_<FIELD>` variables for the most common switches. The domain never reads the environment."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from credlife.domain.policy import Policy

ENV_PREFIX = "CREDLIFE_"
#: Scalar settings that may be set one by one from the environment (the CDK stack sets these).
_ENV_FIELDS = ("state_table", "secret_prefix", "kms_key_id", "security_topic_arn", "sender_email", "region")
_ENV_POLICY_FIELDS = ("dry_run",)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: Policy = Field(default_factory=Policy)
    state_table: str = "credlife-state"
    #: New access keys are handed over in secrets named `<secret_prefix>/<user>`.
    secret_prefix: str = Field(default="credlife/access-keys", pattern=r"^[A-Za-z0-9/_+=.@-]{1,200}$")
    kms_key_id: str | None = None
    security_topic_arn: str | None = None
    sender_email: str | None = None
    region: str | None = None


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the field and what is wrong."""


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    file = path or env.get(f"{ENV_PREFIX}CONFIG_FILE")
    if file:
        data = _deep_merge(data, _read_file(Path(file)))
    if inline := env.get(f"{ENV_PREFIX}CONFIG"):
        data = _deep_merge(data, _parse_json(inline, f"{ENV_PREFIX}CONFIG"))
    for name in _ENV_FIELDS:
        if (value := env.get(f"{ENV_PREFIX}{name.upper()}")) is not None:
            data[name] = value
    for name in _ENV_POLICY_FIELDS:
        if (value := env.get(f"{ENV_PREFIX}{name.upper()}")) is not None:
            data.setdefault("policy", {})[name] = value
    return parse_settings(data, source=str(file) if file else "environment")


def parse_settings(data: Mapping[str, Any], source: str = "settings") -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(top level)'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise ConfigError(f"invalid configuration in {source}: {problems}") from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    if path.suffix.lower() in {".yaml", ".yml"}:
        import yaml  # only the CLI reads YAML; the Lambda functions get JSON

        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    else:
        loaded = _parse_json(text, str(path))
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return loaded


def _parse_json(text: str, source: str) -> dict[str, Any]:
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{source} is not valid JSON: {error.msg} (line {error.lineno})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{source} must hold a JSON object")
    return loaded


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
