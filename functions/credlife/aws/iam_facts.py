"""Facts about IAM principals the escalation rules need (`IdentityFactsPort` of `credlife.risk_monitor`):
whether a group grants administrator equivalence, whether a user ever signed in with a console password.

Read in the account the event function runs in only: a member account's event (organization mode) gets
None ("unknown"), never an answer about a same-named principal of the home account. Which account that is
comes from one `sts:GetCallerIdentity` per cold start (it needs no permission). Any AWS error is an
unknown, never a verdict: the rule then stays quiet for that one fact and the monitor records the error."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import AwsError, NotFound, translate
from credlife.domain.events import grants_admin

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_sts.client import STSClient

#: What `IamFacts` calls (on groups and users of its own account).
REQUIRED_ACTIONS: Final = (
    "iam:ListAttachedGroupPolicies",
    "iam:ListGroupPolicies",
    "iam:GetGroupPolicy",
    "iam:GetUser",
)


class IamFacts:
    def __init__(
        self,
        iam: IAMClient | None = None,
        sts: STSClient | None = None,
        *,
        admin_policy_names: tuple[str, ...] = ("AdministratorAccess", "IAMFullAccess"),
        counter: ApiCallCounter | None = None,
    ) -> None:
        self._iam: IAMClient = iam if iam is not None else boto3.client("iam")
        self._sts: STSClient = sts if sts is not None else boto3.client("sts")
        self._admin_names = admin_policy_names
        self._account: str | None = None
        if counter is not None:
            counter.attach(self._iam)
            counter.attach(self._sts)

    def _own(self, account: str) -> bool:
        if self._account is None:
            self._account = str(self._call("GetCallerIdentity", self._sts.get_caller_identity)["Account"])
        return account == self._account

    def group_grants_admin(self, account: str, group: str) -> bool | None:
        """An attached AWS managed administrator policy, or an inline policy allowing `*`/`iam:*` on `*`."""
        if not self._own(account):
            return None
        try:
            attached = self._call(
                "ListAttachedGroupPolicies", lambda: self._iam.list_attached_group_policies(GroupName=group)
            )
            for policy in attached.get("AttachedPolicies", []):
                arn = policy.get("PolicyArn", "")
                if any(arn.endswith(f":iam::aws:policy/{name}") for name in self._admin_names):
                    return True
            names = self._call("ListGroupPolicies", lambda: self._iam.list_group_policies(GroupName=group))
            for name in names.get("PolicyNames", [])[:20]:
                if grants_admin(_document(self._group_policy(group, name))):
                    return True
        except NotFound:
            return None
        return False

    def signed_in_with_password(self, account: str, user: str) -> bool | None:
        """`PasswordLastUsed` on the user: set once the user ever signed in to the console with a password."""
        if not self._own(account):
            return None
        try:
            found = self._call("GetUser", lambda: self._iam.get_user(UserName=user))["User"]
        except NotFound:
            return None
        return found.get("PasswordLastUsed") is not None

    def _group_policy(self, group: str, name: str) -> Any:
        found = self._call(
            "GetGroupPolicy", lambda: self._iam.get_group_policy(GroupName=group, PolicyName=name)
        )
        return found.get("PolicyDocument")

    @staticmethod
    def _call(operation: str, call: Any) -> Any:
        try:
            return call()
        except ClientError as error:
            raise translate(error, operation) from None
        except BotoCoreError as error:
            raise AwsError(operation, type(error).__name__) from None


def _document(value: Any) -> Any:
    """IAM returns inline policy documents URL-encoded JSON (boto3 decodes them into a dict; moto and the
    raw API hand back the string)."""
    if isinstance(value, str):
        try:
            return json.loads(unquote(value))
        except ValueError:
            return None
    return value
