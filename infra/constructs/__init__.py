"""One construct per concern; stacks only compose them."""

from infra.constructs.account_worker import AccountWorker
from infra.constructs.dashboard import Dashboard
from infra.constructs.event_monitor import EventMonitor
from infra.constructs.lifecycle_scanner import LifecycleScanner
from infra.constructs.member_role import MemberRole
from infra.constructs.notifications import Notifications
from infra.constructs.project_key import ProjectKey
from infra.constructs.report_bucket import ReportBucket
from infra.constructs.require_mfa import RequireMfaPolicy
from infra.constructs.rotate_now import RotateNow
from infra.constructs.signin_forwarder import SigninForwarder
from infra.constructs.state_table import StateTable
from infra.constructs.trail import Trail

__all__ = [
    "AccountWorker",
    "Dashboard",
    "EventMonitor",
    "LifecycleScanner",
    "MemberRole",
    "Notifications",
    "ProjectKey",
    "ReportBucket",
    "RequireMfaPolicy",
    "RotateNow",
    "SigninForwarder",
    "StateTable",
    "Trail",
]
