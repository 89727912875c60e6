"""Translating AWS errors: the text of an error from a call that carried a secret is never kept."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from credlife.aws.errors import AccessDenied, Throttled, translate

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz"


def error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize(
    "operation",
    [
        "CreateAccessKey",
        "iam:CreateAccessKey",
        "CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecret",
    ],
)
def test_calls_carrying_a_secret_keep_only_their_error_code(operation: str) -> None:
    # Given a validation error that echoes the value the call was sent
    echoed = error("ValidationException", f"Value '{SECRET}' at 'secretString' failed", operation)
    # When it is translated
    translated = translate(echoed, operation)
    # Then the operation and the code are kept, AWS's text is not
    assert str(translated) == f"{operation} failed: ValidationException"
    assert translated.code == "ValidationException"
    assert SECRET not in repr(translated.args)


def test_a_refused_call_carrying_a_secret_still_names_the_refused_action() -> None:
    # Given a refusal of PutSecretValue whose text (kept for other calls) is dropped
    refused = error("AccessDeniedException", f"not authorized to perform: x:y {SECRET}", "PutSecretValue")
    # When it is translated
    translated = translate(refused, "secretsmanager:PutSecretValue")
    # Then it is a refusal naming the action from the operation, and nothing of AWS's text
    assert isinstance(translated, AccessDenied)
    assert translated.action == "secretsmanager:PutSecretValue"
    assert SECRET not in str(translated)


def test_other_calls_keep_a_short_message() -> None:
    # Given a throttled ListUsers with a long message
    throttled = error("Throttling", "Rate exceeded " + "x" * 500, "ListUsers")
    # When it is translated
    translated = translate(throttled, "iam:ListUsers")
    # Then the first 200 characters of AWS's text are kept
    assert isinstance(translated, Throttled)
    assert "Rate exceeded" in str(translated)
    assert len(str(translated)) < 260


def test_an_error_code_that_is_not_a_word_is_not_kept() -> None:
    # Given an error "code" that carries arbitrary text
    odd = error(f"Invalid {SECRET}", "", "ListUsers")
    # When it is translated
    translated = translate(odd, "iam:ListUsers")
    # Then it is reported as unknown
    assert translated.code == "Unknown"
    assert SECRET not in str(translated)
