"""`credlife replay PATH...`: exported events (EventBridge-wrapped, bare CloudTrail records, CloudTrail log
files, gzip too) through the same rules, one state, each event's own clock. It makes no AWS call at all: the
network is switched off for these tests."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_socket

from credlife.cli import main
from tests.cloudtrail import HIDDEN, T0, api_call, iam_user, minutes, signin
from tests.e2e.conftest import EVENTS

pytestmark = pytest.mark.e2e

ROW_FIELDS = {"file", "event_id", "risky", "severity", "reasons"}


@pytest.fixture(autouse=True)
def _offline() -> Iterator[None]:
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["replay", *args])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_every_file_in_events_replays(capsys: pytest.CaptureFixture[str]) -> None:
    # When the whole events/ folder is replayed (one state for all, folders in name order)
    code, rows = replay(capsys, str(EVENTS))
    # Then every event file gives rows, in path order, each with the contract fields; findings mean exit 1
    files = sorted(
        p for p in EVENTS.rglob("*") if p.is_file() and p.name.endswith((".json", ".jsonl", ".gz"))
    )
    assert list(dict.fromkeys(row["file"] for row in rows)) == [str(p) for p in files]
    assert all(row.keys() >= ROW_FIELDS for row in rows)
    assert all(row["errors"] == [] for row in rows)
    assert code == 1
    by_file = {Path(row["file"]).relative_to(EVENTS).as_posix(): row for row in rows}
    # and the samples say what their names say
    assert by_file["signin-root-success.json"]["reasons"] == ["root_signin"]
    assert by_file["signin-iam-user-no-mfa.json"]["reasons"] == ["no_mfa"]
    assert by_file["signin-sso-no-mfa.json"]["risky"] is False
    assert by_file["signin-brute-force-user/05.json"]["reasons"] == ["failed_signin", "brute_force"]
    assert by_file["signin-brute-force-ip/05.json"]["reasons"] == ["failed_signin", "brute_force"]
    assert "brute_force" not in by_file["signin-slow-failures/05.json"]["reasons"]
    assert by_file["signin-new-ip/06.json"]["reasons"] == ["new_source_ip"]
    assert by_file["signin-new-user-agent/06.json"]["reasons"] == ["new_user_agent"]
    assert by_file["signin-known-ip-browser-update/06.json"]["risky"] is False
    assert by_file["iam-create-access-key-similar-name.json"]["reasons"] == ["key_created_for_other_user"]
    # and out-of-scope samples print `ignored`, never `malformed`
    ignored = {name: row for name, row in by_file.items() if name.startswith("ignored-")}
    assert len(ignored) >= 3
    assert all(row["verdict"] == "ignored" and row["reasons"] == [] for row in ignored.values())
    assert all(
        row["reasons"] == ["malformed"] for name, row in by_file.items() if name.startswith("malformed-")
    )


def test_cloudtrail_log_file_gzip_with_record_indexes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a gzip CloudTrail log file (bare records) holding a 5-failure burst from one IP, then a clean call
    records = [
        signin(HIDDEN, ok=False, mfa="No", ip="198.51.100.7", at=T0 + minutes(i), bare=True) for i in range(5)
    ]
    records.append(api_call("CreateAccessKey", None, actor=iam_user("alice"), bare=True))
    log = tmp_path / "123456789012_CloudTrail_us-east-1_20260601T0800Z_abc.json.gz"
    log.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    # When replayed
    code, rows = replay(capsys, str(log))
    # Then each record is one row with its index, and the clock came from each eventTime
    assert [row["index"] for row in rows] == list(range(6))
    assert [row["event_id"] for row in rows] == [r["eventID"] for r in records]
    assert rows[4]["reasons"] == ["failed_signin", "brute_force"]
    assert rows[4]["severity"] == "high"
    assert rows[5]["risky"] is False
    assert rows[0]["event_time"] == T0.isoformat()
    assert code == 1


def test_paths_are_read_in_the_order_given_with_one_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a user's baseline in one file and a sign-in from a new IP in another
    baseline = tmp_path / "b-baseline.json"
    baseline.write_text(json.dumps([signin(iam_user("ivan"), at=T0 + minutes(i)) for i in range(5)]))
    newip = tmp_path / "a-new-ip.json"
    newip.write_text(json.dumps(signin(iam_user("ivan"), at=T0 + minutes(60), ip="192.0.2.1")))
    # When the baseline is given first / Then the later sign-in is from a new IP
    _, rows = replay(capsys, str(baseline), str(newip))
    assert rows[-1]["reasons"] == ["new_source_ip"]
    # When the order is reversed / Then there is no baseline yet when the new IP signs in
    _, rows = replay(capsys, str(newip), str(baseline))
    assert rows[0]["reasons"] == []


def test_json_lines_and_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "1.jsonl").write_text(
        json.dumps(signin(mfa="No")) + "\n{broken\n" + json.dumps(signin()) + "\n"
    )
    (tmp_path / "2.json").write_text("not json at all")
    (tmp_path / "3.json.gz").write_bytes(b"\x1f\x8b\x08 truncated gzip")
    (tmp_path / "ignored.txt").write_text("skipped: not an event file")
    code, rows = replay(capsys, str(tmp_path))
    assert [(Path(r["file"]).name, r.get("index"), r["reasons"]) for r in rows] == [
        ("1.jsonl", 0, ["no_mfa"]),
        ("1.jsonl", 1, ["malformed"]),
        ("1.jsonl", 2, []),
        ("2.json", None, ["malformed"]),
        ("3.json.gz", None, ["malformed"]),
    ]
    assert code == 1


def test_clean_input_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.json").write_text(json.dumps(signin()))
    assert replay(capsys, str(tmp_path / "ok.json"))[0] == 0


def test_missing_path_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.json")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_thresholds_come_from_the_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a config lowering the brute-force threshold to 2
    config = tmp_path / "config.yaml"
    config.write_text("risk:\n  brute_force_failures: 2\n")
    events = tmp_path / "events.json"
    events.write_text(json.dumps([signin(ok=False, mfa="No", at=T0 + minutes(i)) for i in range(2)]))
    _, rows = replay(capsys, "--config", str(config), str(events))
    assert "brute_force" in rows[1]["reasons"]
