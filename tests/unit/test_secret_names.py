"""Secret names for handed-over keys: valid for Secrets Manager and one secret per IAM user name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credlife.aws.secrets import SECRET_NAME, secret_name_for, user_name_from_secret

PREFIX = "credlife/access-keys"
#: IAM user names: letters, digits and `+=,.@_-`, 1 to 64 characters.
IAM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-"
user_names = st.text(alphabet=IAM_ALPHABET, min_size=1, max_size=64)
#: Names built mostly from the characters that need escaping, where collisions would hide.
tricky_names = st.text(alphabet="_,c", min_size=1, max_size=12)


@given(a=user_names | tricky_names, b=user_names | tricky_names)
def test_distinct_user_names_get_distinct_secret_names(a: str, b: str) -> None:
    # Given two IAM user names
    # When each gets its secret name
    # Then the names are equal exactly when the user names are (the mapping is injective)
    assert (secret_name_for(PREFIX, a) == secret_name_for(PREFIX, b)) == (a == b)


@given(name=user_names | tricky_names)
def test_secret_name_is_valid_and_decodes_back(name: str) -> None:
    # Given any IAM user name
    # When it is turned into a secret name
    secret = secret_name_for(PREFIX, name)
    # Then the secret name uses only characters Secrets Manager allows, fits its length limit,
    # and decodes back to the user name
    assert SECRET_NAME.fullmatch(secret)
    assert "," not in secret
    assert len(secret) <= 512
    assert user_name_from_secret(PREFIX, secret) == name


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("alice", "credlife/access-keys/alice"),
        ("svc_deploy", "credlife/access-keys/svc__deploy"),
        ("a,b", "credlife/access-keys/a_cb"),
        ("a_cb", "credlife/access-keys/a__cb"),
        ("first.last+ci=1@example-org", "credlife/access-keys/first.last+ci=1@example-org"),
    ],
)
def test_known_names(user: str, expected: str) -> None:
    # Given a user name with and without characters that need escaping
    # When its secret name is built
    # Then `_` is doubled, `,` becomes `_c` and every other allowed character stays
    assert secret_name_for(PREFIX, user) == expected


@pytest.mark.parametrize("user", ["", "a/b", "a#b", "a b", "a:b", "x" * 65, "ünïcode"])
def test_invalid_user_names_are_rejected(user: str) -> None:
    # Given a string that cannot be an IAM user name
    # When a secret name is asked for
    # Then it is refused rather than turned into an ambiguous or invalid name
    with pytest.raises(ValueError, match="invalid IAM user name"):
        secret_name_for(PREFIX, user)


@pytest.mark.parametrize("prefix", ["", "/credlife", "credlife/", "cred,life", "cred life"])
def test_invalid_prefixes_are_rejected(prefix: str) -> None:
    # Given a prefix that would make invalid or oddly shaped secret names
    # When a secret name is asked for
    # Then it is refused
    with pytest.raises(ValueError, match="invalid secret prefix"):
        secret_name_for(prefix, "alice")


@pytest.mark.parametrize("secret", ["credlife/access-keys/a_x", "credlife/access-keys/a_", "other/alice"])
def test_decoding_rejects_names_it_did_not_make(secret: str) -> None:
    # Given a secret name no user name maps to
    # When it is decoded
    # Then decoding fails instead of guessing
    with pytest.raises(ValueError, match="secret"):
        user_name_from_secret(PREFIX, secret)
