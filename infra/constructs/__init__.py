"""One construct per concern; stacks only compose them."""

from infra.constructs.lifecycle_scanner import LifecycleScanner
from infra.constructs.notifications import Notifications
from infra.constructs.project_key import ProjectKey
from infra.constructs.state_table import StateTable

__all__ = ["LifecycleScanner", "Notifications", "ProjectKey", "StateTable"]
