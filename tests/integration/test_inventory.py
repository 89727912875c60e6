"""IamInventory against moto: what the scan sees, and what it costs in API calls."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from moto.iam.models import AccessKeyLastUsed, iam_backends

from credlife.aws.calls import ApiCallCounter
from credlife.aws.credentials import CredentialInventory
from credlife.aws.errors import AccessDenied, NotFound, ReportNotReady, Throttled
from credlife.aws.inventory import MAX_DELAY_S, REQUIRED_ACTIONS, IamInventory
from credlife.domain.models import KeyStatus, User

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region, so nothing here could ever reach real AWS."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def iam(aws: None) -> IAMClient:
    """The test's own client for seeding and checking: its calls are not counted."""
    return boto3.client("iam")


@pytest.fixture
def counter() -> ApiCallCounter:
    return ApiCallCounter()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_inventory(aws: None, counter: ApiCallCounter, sleeps: list[float]) -> Callable[..., IamInventory]:
    def make(**kwargs: Any) -> IamInventory:
        kwargs.setdefault("base_delay_s", 0.5)
        return IamInventory(
            boto3.client("iam"), boto3.client("sts"), counter=counter, sleep=sleeps.append, **kwargs
        )

    return make


@pytest.fixture
def inventory(make_inventory: Callable[..., IamInventory]) -> IamInventory:
    return make_inventory()


def backend() -> Any:
    return iam_backends[ACCOUNT]["global"]


def naive_utc(value: datetime) -> datetime:
    """moto stores naive UTC datetimes and writes them into the report with a literal +00:00."""
    return value.astimezone(UTC).replace(tzinfo=None)


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation)


def failing_first(n: int, code: str, operation: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """A side effect raising `code` on the first `n` calls, then calling the real (moto-backed) method."""
    calls = {"n": 0}

    def side_effect(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= n:
            raise client_error(code, operation)
        return real(*args, **kwargs)

    return side_effect


def by_name(users: tuple[User, ...]) -> dict[str, User]:
    return {u.name: u for u in users}


# -- what is inventoried ----------


def test_users_keys_passwords_tags_and_paths(iam: IAMClient, inventory: IamInventory) -> None:
    # Given users with 0, 1 and 2 keys (one inactive), a password, MFA, tags, nested paths and symbols
    iam.create_user(UserName="nokeys")
    iam.create_user(UserName="one", Path="/eng/", Tags=[{"Key": "owner", "Value": "a@example.com"}])
    one_key = iam.create_access_key(UserName="one")["AccessKey"]
    iam.create_user(UserName="svc+ci=x.y@z_w-v", Path="/svc/build/")
    iam.create_access_key(UserName="svc+ci=x.y@z_w-v")
    second = iam.create_access_key(UserName="svc+ci=x.y@z_w-v")["AccessKey"]
    iam.update_access_key(UserName="svc+ci=x.y@z_w-v", AccessKeyId=second["AccessKeyId"], Status="Inactive")
    iam.create_user(
        UserName="console", Tags=[{"Key": "exempt", "Value": "true"}, {"Key": "team", "Value": "x"}]
    )
    iam.create_login_profile(UserName="console", Password="Xx-1234567890-yY")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="console")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(
        UserName="console", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )

    # When the account is inventoried
    users = by_name(inventory.users())

    # Then each user is described from the report joined with the authorization details
    assert set(users) == {"nokeys", "one", "svc+ci=x.y@z_w-v", "console"}
    details = {
        u["UserName"]: u for u in iam.get_account_authorization_details(Filter=["User"])["UserDetailList"]
    }

    nokeys = users["nokeys"]
    assert (nokeys.path, nokeys.access_keys, nokeys.login_profile, nokeys.mfa_active) == (
        "/",
        (),
        None,
        False,
    )
    assert nokeys.user_id == details["nokeys"]["UserId"]
    assert nokeys.created == details["nokeys"]["CreateDate"].astimezone(UTC)

    one = users["one"]
    assert one.path == "/eng/"
    assert one.arn == f"arn:aws:iam::{ACCOUNT}:user/eng/one"
    assert one.tags == {"owner": "a@example.com"}
    (key,) = one.access_keys
    assert key.status is KeyStatus.ACTIVE
    assert key.created == one_key["CreateDate"].astimezone(UTC).replace(microsecond=0)
    assert key.last_used is None
    assert key.key_id is None
    assert one.keys_resolved is False

    svc = users["svc+ci=x.y@z_w-v"]
    assert svc.path == "/svc/build/"
    assert [k.status for k in svc.access_keys] == [KeyStatus.ACTIVE, KeyStatus.INACTIVE]

    console = users["console"]
    assert console.tags == {"exempt": "true", "team": "x"}
    assert console.login_profile is not None
    assert console.login_profile.last_used is None
    assert console.mfa_active is True
    assert console.access_keys == ()
    assert inventory.last_report is not None
    assert inventory.last_report.rejected == 0
    assert inventory.report_generated_at is not None


def test_ageing_in_moto_state_is_reflected(iam: IAMClient, inventory: IamInventory) -> None:
    # Given a key created 200 days ago and last used 50 days ago, and a password last used 60 days ago
    now = datetime.now(UTC).replace(microsecond=0)
    iam.create_user(UserName="old")
    iam.create_access_key(UserName="old")
    iam.create_login_profile(UserName="old", Password="Xx-1234567890-yY")
    stored = backend().users["old"]
    stored.create_date = naive_utc(now - timedelta(days=300))
    stored.access_keys[0].create_date = naive_utc(now - timedelta(days=200))
    stored.access_keys[0].last_used = AccessKeyLastUsed(
        timestamp=naive_utc(now - timedelta(days=50)), service="s3", region="us-east-1"
    )
    stored.password_last_used = naive_utc(now - timedelta(days=60))

    # When the account is inventoried
    (old,) = inventory.users()

    # Then the ages come through as aware UTC datetimes
    (key,) = old.access_keys
    assert key.created == now - timedelta(days=200)
    assert key.last_used == now - timedelta(days=50)
    assert old.login_profile is not None
    assert old.login_profile.last_used == now - timedelta(days=60)
    assert old.login_profile.created == now - timedelta(days=300)
    assert old.created == now - timedelta(days=300)


def test_clients_are_created_when_not_injected(iam: IAMClient) -> None:
    # Given one user and an inventory built without clients
    iam.create_user(UserName="solo")
    inventory = IamInventory(sleep=lambda _: None)

    # When it inventories and asks for the account
    users = inventory.users()

    # Then its own clients reached moto
    assert [u.name for u in users] == ["solo"]
    assert inventory.account_id() == ACCOUNT


def test_account_id_is_fetched_once(inventory: IamInventory, counter: ApiCallCounter) -> None:
    # Given a fresh inventory
    # When the account id is asked for twice
    first, second = inventory.account_id(), inventory.account_id()

    # Then one GetCallerIdentity answered both
    assert first == second == ACCOUNT
    assert counter.snapshot() == {"sts:GetCallerIdentity": 1}


def test_required_actions_cover_every_call_made(
    iam: IAMClient, inventory: IamInventory, counter: ApiCallCounter
) -> None:
    # Given a user with a key
    iam.create_user(UserName="u")
    iam.create_access_key(UserName="u")

    # When every public method runs, with the listings the lifecycle adds (login profile reset flag,
    # password policy, server certificates: `credentials.SCAN_ACTIONS`)
    (user,) = inventory.users()
    inventory.resolve_keys(user)
    inventory.account_id()
    listings = CredentialInventory(iam, counter=counter)
    listings.login_profile("u")
    listings.password_policy()
    listings.server_certificates()
    listings.ssh_public_keys("u")
    listings.signing_certificates("u")
    with Stubber(iam) as stub:  # moto lacks ListServiceSpecificCredentials (see test_credentials.py)
        stub.add_response(
            "list_service_specific_credentials", {"ServiceSpecificCredentials": []}, {"UserName": "u"}
        )
        listings.service_credentials("u")

    # Then every call made is declared, and every declared action was used
    assert set(counter.snapshot()) == set(REQUIRED_ACTIONS)


# -- the join ----------


def test_user_deleted_between_report_and_details_keeps_report_facts(
    iam: IAMClient, inventory: IamInventory, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a tagged user that is deleted right after the report was read (a race moto cannot produce)
    iam.create_user(UserName="gone", Path="/team/", Tags=[{"Key": "owner", "Value": "x"}])
    iam.create_user(UserName="stays")
    real_get = inventory._iam.get_credential_report

    def get_then_delete() -> Any:
        response = real_get()
        del backend().users["gone"]
        return response

    # When the account is inventoried
    with (
        patch.object(inventory._iam, "get_credential_report", side_effect=get_then_delete),
        caplog.at_level(logging.WARNING, logger="credlife.inventory"),
    ):
        users = by_name(inventory.users())

    # Then the user is kept with the path from its ARN and without tags or id, and the gap is logged
    gone = users["gone"]
    assert gone.path == "/team/"
    assert gone.tags == {}
    assert gone.user_id is None
    assert users["stays"].user_id is not None
    assert any("gone" in r.getMessage() and "missing" in r.getMessage() for r in caplog.records)


def test_recreated_user_with_another_arn_is_not_joined(
    iam: IAMClient, inventory: IamInventory, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a user re-created under another path with other tags right after the report was read
    iam.create_user(UserName="moved", Path="/old/")
    real_get = inventory._iam.get_credential_report

    def get_then_recreate() -> Any:
        response = real_get()
        seed = boto3.client("iam")
        seed.delete_user(UserName="moved")
        seed.create_user(UserName="moved", Path="/new/", Tags=[{"Key": "exempt", "Value": "true"}])
        return response

    # When the account is inventoried
    with (
        patch.object(inventory._iam, "get_credential_report", side_effect=get_then_recreate),
        caplog.at_level(logging.WARNING, logger="credlife.inventory"),
    ):
        (moved,) = inventory.users()

    # Then the other incarnation's path and tags are not mixed into the reported user
    assert moved.arn == f"arn:aws:iam::{ACCOUNT}:user/old/moved"
    assert moved.path == "/old/"
    assert moved.tags == {}
    assert any("ARN differs" in r.getMessage() for r in caplog.records)


def test_user_created_after_the_report_is_left_for_the_next_scan(
    iam: IAMClient, inventory: IamInventory
) -> None:
    # Given a user created right after the report was read
    iam.create_user(UserName="early")
    real_get = inventory._iam.get_credential_report

    def get_then_create() -> Any:
        response = real_get()
        boto3.client("iam").create_user(UserName="late")
        return response

    # When the account is inventoried
    with patch.object(inventory._iam, "get_credential_report", side_effect=get_then_create):
        users = inventory.users()

    # Then only the reported user is returned (its keys and password are unknown until the next report)
    assert [u.name for u in users] == ["early"]


def _report_csv(*names: str) -> bytes:
    """A minimal real-format report, quoted by csv.writer as IAM does."""
    header_rest = ["password_last_changed", "mfa_active"]
    header_rest += [
        f"access_key_{n}_{f}" for n in (1, 2) for f in ("active", "last_rotated", "last_used_date")
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["user", "arn", "user_creation_time", "password_enabled", "password_last_used", *header_rest]
    )
    for name in names:
        arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
        writer.writerow(
            [name, arn, "2025-01-01T00:00:00+00:00", "false", "N/A", "N/A", "false", *["N/A"] * 6]
        )
    return buffer.getvalue().encode()


def _detail(name: str, user_id: str, path: str = "/") -> dict[str, Any]:
    return {
        "UserName": name,
        "UserId": user_id,
        "Path": path,
        "Arn": f"arn:aws:iam::{ACCOUNT}:user{path}{name}",
        "CreateDate": datetime(2025, 1, 1, tzinfo=UTC),
        "Tags": [{"Key": "page", "Value": user_id}],
    }


def test_authorization_details_are_read_across_pages(counter: ApiCallCounter) -> None:
    # Given IAM answering the details in two pages (moto always returns one, so Stubber plays IAM here)
    client = boto3.client("iam", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response("generate_credential_report", {"State": "COMPLETE"})
    stubber.add_response(
        "get_credential_report",
        {
            "Content": _report_csv("a", "b,c"),
            "ReportFormat": "text/csv",
            "GeneratedTime": datetime(2025, 1, 2),
        },
    )
    stubber.add_response(
        "get_account_authorization_details",
        {"UserDetailList": [_detail("a", "AIDAPAGE1XXXXXXXXXXX")], "IsTruncated": True, "Marker": "m1"},
        {"Filter": ["User"], "MaxItems": 1000},
    )
    stubber.add_response(
        "get_account_authorization_details",
        {"UserDetailList": [_detail("b,c", "AIDAPAGE2XXXXXXXXXXX")], "IsTruncated": False},
        {"Filter": ["User"], "MaxItems": 1000, "Marker": "m1"},
    )
    inventory = IamInventory(client, boto3.client("sts", region_name="us-east-1"), counter=counter)

    # When the account is inventoried
    with stubber:
        users = by_name(inventory.users())

    # Then users from both pages are joined, and each page is one call
    stubber.assert_no_pending_responses()
    assert users["a"].user_id == "AIDAPAGE1XXXXXXXXXXX"
    assert users["b,c"].user_id == "AIDAPAGE2XXXXXXXXXXX"
    assert users["b,c"].tags == {"page": "AIDAPAGE2XXXXXXXXXXX"}
    assert counter.calls["iam:GetAccountAuthorizationDetails"] == 2


# -- resolve_keys ----------


def test_resolve_keys_fills_ids_from_list_access_keys(
    iam: IAMClient, inventory: IamInventory, counter: ApiCallCounter
) -> None:
    # Given a user with an old, used key and a newer inactive one
    now = datetime.now(UTC).replace(microsecond=0)
    iam.create_user(UserName="kim")
    iam.create_access_key(UserName="kim")
    iam.create_access_key(UserName="kim")
    stored = backend().users["kim"].access_keys
    stored[0].create_date = naive_utc(now - timedelta(days=100))
    stored[0].last_used = AccessKeyLastUsed(
        timestamp=naive_utc(now - timedelta(days=2)), service="s3", region="x"
    )
    stored[1].create_date = naive_utc(now - timedelta(days=10))
    stored[1].status = "Inactive"
    (kim,) = inventory.users()
    counter.reset()

    # When its keys are resolved
    resolved = inventory.resolve_keys(kim)

    # Then ids, status and creation come from IAM, last use from the report, with one ListAccessKeys
    listed = {m["AccessKeyId"]: m for m in iam.list_access_keys(UserName="kim")["AccessKeyMetadata"]}
    assert {k.key_id for k in resolved.access_keys} == set(listed)
    for key in resolved.access_keys:
        assert key.key_id is not None
        meta = listed[key.key_id]
        assert key.status == meta["Status"]
        assert key.created == meta["CreateDate"].astimezone(UTC).replace(microsecond=0)
    old, new = resolved.access_keys
    assert old.created == now - timedelta(days=100)
    assert old.last_used == now - timedelta(days=2)
    assert (new.status, new.last_used) == (KeyStatus.INACTIVE, None)
    # key_ref stays stable: resolved keys keep the report's creation times
    assert [k.created for k in resolved.access_keys] == [k.created for k in kim.access_keys]
    assert resolved.keys_resolved is True
    assert (resolved.name, resolved.user_id) == (kim.name, kim.user_id)
    assert counter.snapshot() == {"iam:ListAccessKeys": 1}


def test_resolve_keys_adds_keys_newer_than_the_report_and_drops_deleted_ones(
    iam: IAMClient, inventory: IamInventory
) -> None:
    # Given a reported user whose only key is deleted and replaced after the report
    now = datetime.now(UTC).replace(microsecond=0)
    iam.create_user(UserName="lee")
    old = iam.create_access_key(UserName="lee")["AccessKey"]
    backend().users["lee"].access_keys[0].create_date = naive_utc(now - timedelta(days=100))
    (lee,) = inventory.users()
    iam.delete_access_key(UserName="lee", AccessKeyId=old["AccessKeyId"])
    new = iam.create_access_key(UserName="lee")["AccessKey"]

    # When its keys are resolved
    resolved = inventory.resolve_keys(lee)

    # Then only the new key remains, with no last use
    assert [(k.key_id, k.status, k.last_used) for k in resolved.access_keys] == [
        (new["AccessKeyId"], KeyStatus.ACTIVE, None)
    ]


def test_resolve_keys_of_a_deleted_user_raises_not_found(iam: IAMClient, inventory: IamInventory) -> None:
    # Given a user deleted after the inventory
    iam.create_user(UserName="temp")
    (temp,) = inventory.users()
    iam.delete_user(UserName="temp")

    # When / Then resolving its keys raises the project's NotFound
    with pytest.raises(NotFound) as caught:
        inventory.resolve_keys(temp)
    assert caught.value.operation == "ListAccessKeys"
    assert caught.value.code == "NoSuchEntity"


def test_resolve_keys_reads_every_page(counter: ApiCallCounter) -> None:
    # Given IAM listing a user's two keys on two pages (Stubber: moto returns one page)
    client = boto3.client("iam", region_name="us-east-1")
    stubber = Stubber(client)
    created = [datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)]
    for i, (when, marker) in enumerate(zip(created, ["m1", None], strict=True)):
        page: dict[str, Any] = {
            "AccessKeyMetadata": [
                {"UserName": "p", "AccessKeyId": f"AKIAPAGE{i:012d}", "Status": "Active", "CreateDate": when}
            ],
            "IsTruncated": marker is not None,
        }
        if marker:
            page["Marker"] = marker
        params = {"UserName": "p"} if i == 0 else {"UserName": "p", "Marker": "m1"}
        stubber.add_response("list_access_keys", page, params)
    inventory = IamInventory(client, boto3.client("sts", region_name="us-east-1"), counter=counter)
    user = User(name="p", arn=f"arn:aws:iam::{ACCOUNT}:user/p")

    # When its keys are resolved
    with stubber:
        resolved = inventory.resolve_keys(user)

    # Then both pages' keys are there
    stubber.assert_no_pending_responses()
    assert [k.key_id for k in resolved.access_keys] == ["AKIAPAGE000000000000", "AKIAPAGE000000000001"]
    assert counter.calls["iam:ListAccessKeys"] == 2


def test_resolve_keys_backs_off_when_throttled(
    iam: IAMClient, inventory: IamInventory, sleeps: list[float]
) -> None:
    # Given a user, and ListAccessKeys throttled twice
    iam.create_user(UserName="t")
    iam.create_access_key(UserName="t")
    (user,) = inventory.users()
    sleeps.clear()
    real_list = inventory._iam.list_access_keys

    # When its keys are resolved
    with patch.object(
        inventory._iam,
        "list_access_keys",
        side_effect=failing_first(2, "Throttling", "ListAccessKeys", real_list),
    ):
        resolved = inventory.resolve_keys(user)

    # Then it waited 0.5 s, then 1 s, and succeeded
    assert sleeps == [0.5, 1.0]
    assert len(resolved.access_keys) == 1
    assert resolved.access_keys[0].key_id is not None


# -- report generation: throttling, waiting, giving up ------------------------------------------------------


def test_throttled_generation_is_retried_with_exponential_delays(
    iam: IAMClient, inventory: IamInventory, sleeps: list[float]
) -> None:
    # Given a report that already exists, and GenerateCredentialReport throttled three times
    iam.create_user(UserName="u")
    iam.generate_credential_report()
    real = inventory._iam.generate_credential_report

    # When the account is inventoried
    with patch.object(
        inventory._iam,
        "generate_credential_report",
        side_effect=failing_first(3, "Throttling", "GenerateCredentialReport", real),
    ):
        users = inventory.users()

    # Then it slept base, 2 x base, 4 x base through the injected sleep, then read the report
    assert sleeps == [0.5, 1.0, 2.0]
    assert [u.name for u in users] == ["u"]


def test_report_started_is_waited_for(
    iam: IAMClient, inventory: IamInventory, counter: ApiCallCounter, sleeps: list[float]
) -> None:
    # Given no report yet (moto answers STARTED first, COMPLETE next)
    iam.create_user(UserName="u")

    # When the account is inventoried
    users = inventory.users()

    # Then the inventory generated twice, waited once, and read the report once
    assert [u.name for u in users] == ["u"]
    assert counter.calls["iam:GenerateCredentialReport"] == 2
    assert counter.calls["iam:GetCredentialReport"] == 1
    assert sleeps == [0.5]


def test_report_in_progress_then_success(
    iam: IAMClient, inventory: IamInventory, sleeps: list[float]
) -> None:
    # Given a generated report whose download answers ReportInProgress twice
    iam.create_user(UserName="u")
    iam.generate_credential_report()
    real = inventory._iam.get_credential_report

    # When the account is inventoried
    with patch.object(
        inventory._iam,
        "get_credential_report",
        side_effect=failing_first(2, "ReportInProgress", "GetCredentialReport", real),
    ) as get:
        users = inventory.users()

    # Then it waited twice and read the report on the third try
    assert sleeps == [0.5, 1.0]
    assert get.call_count == 3
    assert [u.name for u in users] == ["u"]


@pytest.mark.parametrize("code", ["ReportNotPresent", "ReportExpired"])
def test_missing_or_expired_report_is_generated_again_without_waiting(
    code: str, iam: IAMClient, inventory: IamInventory, sleeps: list[float], counter: ApiCallCounter
) -> None:
    # Given a generated report that is gone (or expired) at the first download
    iam.create_user(UserName="u")
    iam.generate_credential_report()
    real = inventory._iam.get_credential_report

    # When the account is inventoried
    with patch.object(
        inventory._iam,
        "get_credential_report",
        side_effect=failing_first(1, code, "GetCredentialReport", real),
    ):
        users = inventory.users()

    # Then it generated again straight away and succeeded
    assert sleeps == []
    assert counter.calls["iam:GenerateCredentialReport"] == 2
    assert [u.name for u in users] == ["u"]


def test_gives_up_on_persistent_throttling(
    make_inventory: Callable[..., IamInventory], sleeps: list[float]
) -> None:
    # Given GenerateCredentialReport always throttled and 4 attempts allowed
    inventory = make_inventory(max_attempts=4)
    real = inventory._iam.generate_credential_report

    # When the account is inventoried
    with (
        patch.object(
            inventory._iam,
            "generate_credential_report",
            side_effect=failing_first(99, "Throttling", "GenerateCredentialReport", real),
        ) as generate,
        pytest.raises(Throttled) as caught,
    ):
        inventory.users()

    # Then it tried 4 times, waited between tries only, and raised the typed error
    assert generate.call_count == 4
    assert sleeps == [0.5, 1.0, 2.0]
    assert caught.value.operation == "GenerateCredentialReport"
    assert "gave up after 4 attempts" in str(caught.value)


def test_gives_up_when_the_report_never_completes(
    make_inventory: Callable[..., IamInventory], sleeps: list[float]
) -> None:
    # Given a report generation that never completes (moto completes at once, so the answer is patched)
    inventory = make_inventory(max_attempts=3)

    # When / Then the inventory gives up with ReportNotReady
    with (
        patch.object(inventory._iam, "generate_credential_report", return_value={"State": "INPROGRESS"}),
        pytest.raises(ReportNotReady, match="no credential report after 3 attempts"),
    ):
        inventory.users()
    assert sleeps == [0.5, 1.0]


def test_delays_are_capped(make_inventory: Callable[..., IamInventory], sleeps: list[float]) -> None:
    # Given a long base delay and persistent throttling
    inventory = make_inventory(max_attempts=6, base_delay_s=20.0)

    # When the inventory gives up
    with (
        patch.object(
            inventory._iam,
            "generate_credential_report",
            side_effect=client_error("Throttling", "GenerateCredentialReport"),
        ),
        pytest.raises(Throttled),
    ):
        inventory.users()

    # Then no single wait exceeds the cap
    assert sleeps == [20.0, 40.0, MAX_DELAY_S, MAX_DELAY_S, MAX_DELAY_S]


def test_access_denied_is_translated_and_not_retried(
    iam: IAMClient, inventory: IamInventory, sleeps: list[float]
) -> None:
    # Given a role that may not read authorization details
    iam.create_user(UserName="u")
    iam.generate_credential_report()
    paginator = inventory._iam.get_paginator("get_account_authorization_details")

    # When the account is inventoried
    with (
        patch.object(inventory._iam, "get_paginator", return_value=paginator),
        patch.object(
            paginator, "paginate", side_effect=client_error("AccessDenied", "GetAccountAuthorizationDetails")
        ),
        pytest.raises(AccessDenied) as caught,
    ):
        inventory.users()

    # Then the error is the project's AccessDenied, raised at once
    assert caught.value.operation == "GetAccountAuthorizationDetails"
    assert sleeps == []


# -- cost ----------


def _inventory_cost(n_users: int) -> tuple[int, dict[str, int], int]:
    """Seed `n_users` (a third with a key) through moto's stored state, inventory them, then resolve 3."""
    counter = ApiCallCounter()
    with mock_aws():
        store = backend()
        for i in range(n_users):
            store.create_user("us-east-1", f"user{i:04d}+ci@x", path="/load/")
            if i % 3 == 0:
                store.create_access_key(f"user{i:04d}+ci@x")
        inventory = IamInventory(counter=counter, sleep=lambda _: None)
        users = inventory.users()
        inventory_calls = counter.snapshot()
        for user in [u for u in users if u.access_keys][:3]:
            inventory.resolve_keys(user)
        return len(users), inventory_calls, counter.calls["iam:ListAccessKeys"]


def test_inventory_cost_does_not_grow_with_users() -> None:
    # Given accounts of 50 and 500 users
    # When each is inventoried (and then 3 users' keys are resolved)
    small_n, small_calls, small_lists = _inventory_cost(50)
    large_n, large_calls, large_lists = _inventory_cost(500)

    # Then every user was seen, and the inventory made exactly the same calls for both
    assert (small_n, large_n) == (50, 500)
    assert (
        small_calls
        == large_calls
        == {
            "iam:GenerateCredentialReport": 2,
            "iam:GetAccountAuthorizationDetails": 1,
            "iam:GetCredentialReport": 1,
        }
    )
    # And ListAccessKeys was called only by resolve_keys, once per resolved user
    assert "iam:ListAccessKeys" not in small_calls
    assert small_lists == large_lists == 3
