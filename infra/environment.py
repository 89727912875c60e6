"""The one builder of every function's environment: each function reads its settings with
`credlife.config.load_settings`, and gets every one of them from here, so a setting cannot reach one
function and miss another (the event function once ran without the dry-run switch and stayed in dry-run
after the operator went live). tests/infra/test_environment.py checks each template's environment against
the variables `load_settings` reads."""

from __future__ import annotations

from dataclasses import dataclass

from infra.constants import LOG_LEVEL, METRICS_NAMESPACE, SERVICE_NAME

#: The project's own principals (every function role, the member role): known only once every role
#: exists, so the stack adds it to every function afterwards.
OWN_PRINCIPALS_VARIABLE = "CREDLIFE_OWN_PRINCIPAL_ARNS"


@dataclass(frozen=True)
class FunctionSettings:
    """Deploy-time values (CloudFormation tokens allowed) of the runtime settings, one per setting."""

    state_table: str
    secret_prefix: str
    #: The project key: handover secrets in the home account are encrypted with it.
    kms_key_arn: str
    dry_run: bool
    #: `CREDLIFE_CONFIG`: policy, notifications, risk and organization filters (`AppConfig`).
    config_json: str
    security_topic_arn: str
    sender_email: str
    require_mfa_policy_arn: str
    report_bucket: str
    security_hub: bool
    #: Events further than this from the real clock are refused.
    event_clock_tolerance_minutes: int = 15
    #: Organization mode's account queue; None: single-account mode.
    organization_queue_url: str | None = None

    def environment(self, *, automation_principal_arn: str) -> dict[str, str]:
        """The environment of one function; `automation_principal_arn` is the principal that may read the
        handover secrets beside each user (the scanner's role, or in a member account the member role)."""
        environment = {
            "CREDLIFE_STATE_TABLE": self.state_table,
            "CREDLIFE_SECRET_PREFIX": self.secret_prefix,
            "CREDLIFE_KMS_KEY_ID": self.kms_key_arn,
            "CREDLIFE_DRY_RUN": "true" if self.dry_run else "false",
            "CREDLIFE_CONFIG": self.config_json,
            "CREDLIFE_SECURITY_TOPIC_ARN": self.security_topic_arn,
            "CREDLIFE_SENDER_EMAIL": self.sender_email,
            "CREDLIFE_AUTOMATION_PRINCIPAL_ARN": automation_principal_arn,
            "CREDLIFE_REQUIRE_MFA_POLICY_ARN": self.require_mfa_policy_arn,
            "CREDLIFE_REPORT_BUCKET": self.report_bucket,
            "CREDLIFE_SECURITY_HUB_ENABLED": "true" if self.security_hub else "false",
            "CREDLIFE_ORGANIZATION_ENABLED": "true" if self.organization_queue_url else "false",
            "CREDLIFE_EVENT_CLOCK_TOLERANCE_MINUTES": str(self.event_clock_tolerance_minutes),
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": LOG_LEVEL,
        }
        if self.organization_queue_url:
            environment["CREDLIFE_ORGANIZATION_QUEUE_URL"] = self.organization_queue_url
        return environment
