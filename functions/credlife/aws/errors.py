"""The project's own AWS errors: botocore's ClientError is translated once, here, into these."""

from __future__ import annotations

import functools
import re

from botocore.exceptions import ClientError

#: What AWS says when a policy does not allow a call: "User: arn:... is not authorized to perform:
#: iam:ListUsers on resource: ..." (IAM, STS, DynamoDB, ...; the wording of every AWS service).
_NOT_AUTHORIZED = re.compile(r"not authorized to perform:?\s+([A-Za-z0-9-]+:[A-Za-z0-9*]+)")

#: Services whose clients the project creates, in the order an unqualified operation name is looked up
#: (IAM first: most operations the project calls are IAM's).
_SERVICES = ("iam", "sts", "dynamodb", "secretsmanager", "sns", "sesv2", "sqs", "organizations")

_MESSAGE_LIMIT = 200

#: Calls whose request or response carries a secret (a new secret access key, a secret's value). A
#: validation error may echo a parameter, so their AWS error text is never kept: only the code.
SECRET_CALLS = frozenset(
    {"CreateAccessKey", "CreateSecret", "PutSecretValue", "UpdateSecret", "GetSecretValue"}
)


class AwsError(Exception):
    """An AWS call failed. Carries the operation and AWS error code, never request parameters.

    `action` is the IAM action of the call (`iam:ListUsers`): from AWS's "not authorized to perform"
    message when it has one, else from `operation` (qualified, or looked up in the botocore models of the
    services the project uses); None when neither tells."""

    def __init__(self, operation: str, code: str, message: str = "", *, action: str | None = None) -> None:
        super().__init__(f"{operation} failed: {code}{': ' + message if message else ''}")
        self.operation = operation
        self.code = code
        self._action = action

    @property
    def action(self) -> str | None:
        if self._action is None:
            self._action = action_for(self.operation)
        return self._action


class Throttled(AwsError):
    pass


class NotFound(AwsError):
    pass


class QuotaExceeded(AwsError):
    pass


class AccessDenied(AwsError):
    pass


class ReportNotReady(AwsError):
    pass


_BY_CODE: dict[str, type[AwsError]] = {
    "Throttling": Throttled,
    "ThrottlingException": Throttled,
    "TooManyRequestsException": Throttled,
    "RequestLimitExceeded": Throttled,
    "ProvisionedThroughputExceededException": Throttled,
    "NoSuchEntity": NotFound,
    "ResourceNotFoundException": NotFound,
    "LimitExceeded": QuotaExceeded,
    "LimitExceededException": QuotaExceeded,
    "AccessDenied": AccessDenied,
    "AccessDeniedException": AccessDenied,
    "UnauthorizedOperation": AccessDenied,
    "ReportInProgress": ReportNotReady,
    "ReportNotPresent": ReportNotReady,
    "ReportExpired": ReportNotReady,
}


def translate(error: ClientError, operation: str | None = None, *, service: str | None = None) -> AwsError:
    """Map a ClientError to the project's exception type (message kept short, no parameters echoed).

    A refusal is `AccessDenied` whatever its code when AWS says "not authorized to perform" (some answer
    with a bare HTTP 403), and its message always names the refused action (`iam:ListUsers`), even when
    AWS's own message is cut short or says nothing useful. `service` (the client's signing name, e.g.
    "iam") qualifies an unqualified `operation` when AWS's message names no action."""
    info = error.response.get("Error", {})
    code = str(info.get("Code", "Unknown"))
    op = str(operation or getattr(error, "operation_name", None) or "unknown")
    full = "" if carries_secret(op) else str(info.get("Message", ""))
    if len(code) > 64 or not code.replace(".", "").replace("-", "").isalnum():
        code = "Unknown"  # an error code is one short word: anything else might echo input
    refused = denied_action(full)
    kind = _BY_CODE.get(code, AccessDenied if refused else AwsError)
    if refused and code.isdigit():  # a bare HTTP status (moto's DynamoDB answers a refusal in XML)
        code = "AccessDenied"
    message = "" if full.lstrip().startswith("<") else full[:_MESSAGE_LIMIT]  # an unparsed XML body
    action = refused or (f"{service}:{op}" if service and ":" not in op else None)
    if kind is AccessDenied:
        action = action or action_for(op)
        if action and action not in message:
            message = f"not authorized to perform: {action}" + (f" ({message})" if message else "")
    return kind(op, code, message, action=action)


def carries_secret(operation: str) -> bool:
    """Whether `operation` ("PutSecretValue", "secretsmanager:PutSecretValue") carries a secret."""
    return operation.rpartition(":")[2] in SECRET_CALLS


def denied_action(text: str) -> str | None:
    """The action named in AWS's "... is not authorized to perform: iam:ListUsers ..." (None: none)."""
    found = _NOT_AUTHORIZED.search(text)
    return found.group(1) if found else None


@functools.cache
def action_for(operation: str) -> str | None:
    """`service:Operation` for an operation name: as given when already qualified ("dynamodb:Query"), else
    the first service the project uses whose API has it ("ListAccessKeys" → "iam:ListAccessKeys")."""
    if ":" in operation:
        return operation
    import botocore.session

    session = botocore.session.get_session()
    for service in _SERVICES:
        model = session.get_service_model(service)
        if operation in model.operation_names:
            return f"{model.signing_name}:{operation}"
    return None
