"""`credlife report --out DIR` against a moto account: the CSV and JSON agree with `plan --json`, and the
HTML page renders in a real headless browser (Debian's Chromium, installed by the session fixture when
absent) with its charts and per-user tables, without reaching the network."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from credlife.aws.state_store import create_state_table
from credlife.report import CHART_IDS
from tests.e2e.conftest import Account
from tests.e2e.test_cli import NOW, TABLE, json_lines, run, seed_findings

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
COMPARED = ("user", "credential", "key_id", "action", "reason")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium; installed from the distribution's packages when absent (CI runs as root on a
    fresh machine). Skips, saying why, only when it cannot be installed."""
    if not Path(CHROMIUM).exists():
        if shutil.which("apt-get") is None:
            pytest.skip("chromium is not installed and apt-get is not available to install it")
        try:
            for command in (
                ["apt-get", "update"],
                ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
            ):
                subprocess.run(  # noqa: S603 - fixed commands
                    command,
                    check=True,
                    capture_output=True,
                    stdin=subprocess.DEVNULL,
                    timeout=600,
                    env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                )
        except (OSError, subprocess.SubprocessError) as error:
            pytest.skip(f"chromium could not be installed with apt-get ({type(error).__name__}: {error})")
        if not Path(CHROMIUM).exists():
            pytest.skip(f"apt-get installed chromium but {CHROMIUM} is missing")
    return CHROMIUM


def render(chromium: str, page: Path, profile: Path) -> str:
    """The DOM Chromium builds from `page`, headless, with every background network feature off."""
    done = subprocess.run(  # noqa: S603 - fixed arguments, a local file
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


class Dom(HTMLParser):
    """The elements of a rendered page: tag and attributes, in document order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def with_class(self, tag: str, name: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == tag and name in (a.get("class") or "").split()]


def seed_report_account(aws: Account) -> dict[str, str]:
    """The CLI test's findings (an aged key, an idle key, a young key) plus a console user without MFA."""
    keys = seed_findings(aws)
    aws.user("cy.console", now=NOW)
    aws.iam.create_login_profile(UserName="cy.console", Password="Not-a-real-pw-1234")
    return keys


@pytest.fixture
def reported(
    aws: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Account, dict[str, str], list[dict[str, Any]], Path]:
    """The seeded account, its `plan --json` rows, and the folder `report --out` wrote (same state)."""
    keys = seed_report_account(aws)
    capsys.readouterr()
    assert run("plan", "--json") == 1
    plan_rows = json_lines(capsys.readouterr().out)
    out = tmp_path / "out"
    assert run("report", "--out", str(out)) == 1
    return aws, keys, plan_rows, out


def test_report_csv_and_json_agree_with_plan_json(
    reported: tuple[Account, dict[str, str], list[dict[str, Any]], Path],
) -> None:
    # Given an account with findings, planned with --json and reported into a folder (no state table)
    _aws, keys, plan_rows, out = reported

    # When the operator reads report.csv and report.json
    with (out / "report.csv").open(encoding="utf-8", newline="") as handle:
        csv_rows = list(csv.DictReader(handle))
    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    json_rows = document["rows"]

    # Then their finding rows are exactly the plan's rows (user, credential, key id, action, reason) ...
    expected = sorted(tuple(str(r[k] or "") for k in COMPARED) for r in plan_rows)
    assert expected  # the account has findings
    for rows in (csv_rows, json_rows):
        found = sorted(tuple(str(r[k] or "") for k in COMPARED) for r in rows if r["action"] != "none")
        assert found == expected
    # ... with the same control as the plan
    assert sorted(str(r["control"]) for r in json_rows if r["action"] != "none") == sorted(
        str(r["control"]) for r in plan_rows
    )
    # ... and every other credential is there as an `ok` row: the young key (the console password, never
    # used since the user was created 1000 days ago, has its own plan row)
    ok = {(r["user"], r["credential"]) for r in json_rows if r["action"] == "none"}
    assert ok == {("eli.young", "access_key")}
    assert len(csv_rows) == len(json_rows)
    # ... the users are classified, and the control summary names CIS and Security Hub ids
    kinds = {r["user"]: r["user_kind"] for r in json_rows}
    assert kinds["cy.console"] == "human"
    assert kinds["ana.aged"] == "workload"
    controls = {c["security_hub"]: c for c in document["controls"]}
    assert {"IAM.3", "IAM.22", "IAM.5", "IAM.8"} <= set(controls)
    assert controls["IAM.3"]["cis"] == "CIS 2.12"
    assert "key_rotation_due" in controls["IAM.3"]["reasons"]
    # ... without a state table there is no audit log, so no actions taken
    assert document["actions_taken"] is None
    assert any(keys[user] in str(json_rows) for user in ("ana.aged", "ben.idle"))


def test_report_html_renders_in_headless_chromium_with_charts_and_user_tables(
    reported: tuple[Account, dict[str, str], list[dict[str, Any]], Path], chromium: str, tmp_path: Path
) -> None:
    # Given the report folder of an account with findings
    _, keys, plan_rows, out = reported
    page = out / "report.html"
    source = page.read_text(encoding="utf-8")
    # ... a page that needs nothing from outside: only an inline script, no external reference of any kind
    assert "<script src" not in source.lower()
    assert source.lower().count("<script") == 1
    assert "http:" not in source
    assert "https:" not in source
    assert "//" not in source.replace("<!--", "")

    # When a real headless browser loads it
    dom = Dom(render(chromium, page, tmp_path / "chromium-profile"))

    # Then every chart is an inline SVG with its bars, and the page has a table per user
    for chart_id in CHART_IDS:
        assert dom.find("svg", id=chart_id), chart_id
    bars = {a["data-label"]: int(a["data-value"] or 0) for a in dom.with_class("rect", "bar")}
    assert bars["with MFA"] == 0
    assert bars["without MFA"] == 1
    assert bars["90-179 d"] == 2
    assert bars["0-29 d"] == 1
    tables = {a["data-user"] for a in dom.with_class("table", "user-table")}
    assert tables == {"ana.aged", "ben.idle", "eli.young", "cy.console"}
    rows = dom.with_class("tr", "credential-row")
    rendered = {(r["data-user"], r["data-key-id"], r["data-action"]) for r in rows}
    for plan_row in plan_rows:
        assert (plan_row["user"], plan_row["key_id"] or "", plan_row["action"]) in rendered
    assert ("ana.aged", keys["ana.aged"], "rotate") in rendered
    assert dom.find("table", id="control-summary")


def test_report_shows_actions_taken_from_the_audit_log(
    aws: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployed state table and one (dry-run) apply that audited its actions
    keys = seed_findings(aws)
    create_state_table(aws.dynamodb, TABLE)
    monkeypatch.setenv("CREDLIFE_STATE_TABLE", TABLE)
    assert run("apply") == 1
    capsys.readouterr()
    before = (aws.all_keys(), len(aws.table_items(TABLE)))

    # When the operator writes the report
    code = run("report", "--out", str(tmp_path))

    # Then the actions taken come from the audit log (the dry-run rotation among them) ...
    document = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    taken = document["actions_taken"]
    assert code == 1
    assert {
        "user": "ana.aged",
        "key_id": keys["ana.aged"],
        "action": "rotate",
        "outcome": "dry_run",
    }.items() <= (next(t for t in taken if t["user"] == "ana.aged").items())
    assert ["rotate: dry_run", 1] in document["charts"]["chart-actions-taken"]
    assert 'data-label="rotate: dry_run"' in (tmp_path / "report.html").read_text(encoding="utf-8")
    # ... and the report changed nothing: IAM keys, the state table
    assert (aws.all_keys(), len(aws.table_items(TABLE))) == before
    assert str(tmp_path) in capsys.readouterr().out
