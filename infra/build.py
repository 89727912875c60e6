"""Builds the stack into an app exactly as `app.py` does, so tests synthesize what gets deployed."""

from __future__ import annotations

import aws_cdk as cdk

from infra.config import AppConfig, config_from_context
from infra.constants import CONTEXT_KEY, STACK_NAME, STACK_NAME_FORWARDER, STACK_NAME_MEMBER
from infra.nag import apply_nag
from infra.stack import CredentialLifecycleStack, MemberRoleStack, SigninForwarderStack


def build_stack(app: cdk.App, *, nag: bool = True) -> CredentialLifecycleStack:
    """The stack, configured from the app's `credlife` context, tagged and (by default) checked by
    cdk-nag. `nag=False` only serves the test that the acknowledgement table matches the findings."""
    config: AppConfig = config_from_context(app.node.try_get_context(CONTEXT_KEY))
    env = (
        cdk.Environment(account=config.account, region=config.region)
        if config.account or config.region
        else None
    )
    stack = CredentialLifecycleStack(app, STACK_NAME, config=config, env=env)
    cdk.Tags.of(stack).add("project", "credential-lifecycle")
    if nag:
        apply_nag(stack, config.secret_prefix)
    return stack


def build_member_stack(app: cdk.App, *, nag: bool = True) -> MemberRoleStack:
    """The member-account role stack (organization mode; deployed to member accounts with StackSets).
    Environment-agnostic on purpose: one template for every member account."""
    config: AppConfig = config_from_context(app.node.try_get_context(CONTEXT_KEY))
    stack = MemberRoleStack(app, STACK_NAME_MEMBER, config=config)
    cdk.Tags.of(stack).add("project", "credential-lifecycle")
    if nag:
        apply_nag(stack, config.secret_prefix)
    return stack


def build_forwarder_stacks(app: cdk.App, *, nag: bool = True) -> list[SigninForwarderStack]:
    """One sign-in forwarder stack per configured `signin_regions` entry, bound to that region."""
    config: AppConfig = config_from_context(app.node.try_get_context(CONTEXT_KEY))
    stacks = []
    for region in config.signin_regions:
        stack = SigninForwarderStack(
            app,
            f"{STACK_NAME_FORWARDER}-{region}",
            config=config,
            env=cdk.Environment(account=config.account, region=region),
        )
        cdk.Tags.of(stack).add("project", "credential-lifecycle")
        if nag:
            apply_nag(stack, config.secret_prefix)
        stacks.append(stack)
    return stacks
