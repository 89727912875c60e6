"""One construct per concern; stacks only compose them."""

from infra.constructs.account_worker import AccountWorker
from infra.constructs.lifecycle_scanner import LifecycleScanner
from infra.constructs.member_role import MemberRole
from infra.constructs.notifications import Notifications
from infra.constructs.project_key import ProjectKey
from infra.constructs.state_table import StateTable

__all__ = ["AccountWorker", "LifecycleScanner", "MemberRole", "Notifications", "ProjectKey", "StateTable"]
