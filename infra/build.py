"""Builds the stacks into an app exactly as `app.py` does, so tests synthesize what gets deployed."""

from __future__ import annotations

import json

import aws_cdk as cdk

from infra.config import AppConfig, ConfigError, config_from_context
from infra.constants import CONTEXT_KEY, STACK_NAME, STACK_NAME_FORWARDER, STACK_NAME_MEMBER
from infra.nag import apply_nag
from infra.stack import CredentialLifecycleStack, MemberRoleStack, SigninForwarderStack


def app_config(app: cdk.App) -> AppConfig:
    """The app's `credlife` context as deployable settings: the infrastructure's keys checked by
    `infra.config`, and the runtime's document (policy, notifications, risk, organization filters) by the
    very pydantic models the functions validate it with at cold start, so a misspelled or mistyped nested
    setting fails synthesis, named, instead of every function after deployment."""
    config = config_from_context(app.node.try_get_context(CONTEXT_KEY))
    validate_runtime_settings(config)
    return config


def validate_runtime_settings(config: AppConfig) -> None:
    from credlife.config import ConfigError as RuntimeConfigError
    from credlife.config import parse_settings

    document = json.loads(config.runtime_config_json())
    document["policy"]["dry_run"] = config.dry_run
    if config.sender_email:
        document["sender_email"] = config.sender_email
    try:
        parse_settings(document, source=f"cdk context {CONTEXT_KEY!r}")
    except RuntimeConfigError as error:
        raise ConfigError(f"{error} (fields are named below {CONTEXT_KEY}.)") from None


def build_stack(app: cdk.App, *, nag: bool = True) -> CredentialLifecycleStack:
    """The stack, configured from the app's `credlife` context, tagged and (by default) checked by
    cdk-nag. `nag=False` only serves the test that the acknowledgement table matches the findings.

    Pinned to the home region (`AppConfig.home_region`, us-east-1 unless set): wherever the operator's
    profile points, `cdk deploy` puts it where IAM events arrive."""
    config = app_config(app)
    env = cdk.Environment(account=config.account, region=config.home_region)
    stack = CredentialLifecycleStack(app, STACK_NAME, config=config, env=env)
    cdk.Tags.of(stack).add("project", "credential-lifecycle")
    if nag:
        apply_nag(stack, config.secret_prefix)
    return stack


def build_member_stack(app: cdk.App, *, nag: bool = True) -> MemberRoleStack:
    """The member-account role stack (organization mode; deployed to member accounts with StackSets).
    Environment-agnostic on purpose: one template for every member account. Synthesized without the
    CDK bootstrap's requirements (no `BootstrapVersion` parameter or rule, no assets): StackSets deploy it
    into accounts that were never bootstrapped."""
    config = app_config(app)
    stack = MemberRoleStack(app, STACK_NAME_MEMBER, config=config, synthesizer=cdk.BootstraplessSynthesizer())
    cdk.Tags.of(stack).add("project", "credential-lifecycle")
    if nag:
        apply_nag(stack, config.secret_prefix)
    return stack


def build_forwarder_stacks(app: cdk.App, *, nag: bool = True) -> list[SigninForwarderStack]:
    """One sign-in forwarder stack per configured `signin_regions` entry, bound to that region. They have
    no assets either: bootstrapless, so the forwarder regions need no `cdk bootstrap`."""
    config = app_config(app)
    stacks = []
    for region in config.signin_regions:
        stack = SigninForwarderStack(
            app,
            f"{STACK_NAME_FORWARDER}-{region}",
            config=config,
            env=cdk.Environment(account=config.account, region=region),
            synthesizer=cdk.BootstraplessSynthesizer(),
        )
        cdk.Tags.of(stack).add("project", "credential-lifecycle")
        if nag:
            apply_nag(stack, config.secret_prefix)
        stacks.append(stack)
    return stacks
