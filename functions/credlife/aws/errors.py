"""The project's own AWS errors: botocore's ClientError is translated once, here, into these."""

from __future__ import annotations

from botocore.exceptions import ClientError


class AwsError(Exception):
    """An AWS call failed. Carries the operation and AWS error code, never request parameters."""

    def __init__(self, operation: str, code: str, message: str = "") -> None:
        super().__init__(f"{operation} failed: {code}{': ' + message if message else ''}")
        self.operation = operation
        self.code = code


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


def translate(error: ClientError, operation: str | None = None) -> AwsError:
    """Map a ClientError to the project's exception type (message kept short, no parameters echoed)."""
    info = error.response.get("Error", {})
    code = str(info.get("Code", "Unknown"))
    op = str(operation or getattr(error, "operation_name", None) or "unknown")
    return _BY_CODE.get(code, AwsError)(op, code, str(info.get("Message", ""))[:200])
