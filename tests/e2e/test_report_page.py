"""The report page a CISO reads, at 20 and 5,000 users: a summary band, overdue apart from upcoming (a
chart of bounded height at any size), a per-owner table, every credential row with age, last use, owner,
severity and its next dated step, inline sort and filter, and nothing fetched from anywhere.
(scripts/report_screenshots.py renders the same pages to images for a human look.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from credlife.report import CHART_IDS, UPCOMING_WEEKS, render_html, write_report
from credlife.report_sample import sample_report
from tests.e2e.test_report import Dom, chromium, render  # noqa: F401 - `chromium` is a fixture

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
#: The tallest a chart may be: its most bars (the upcoming chart: overdue, UPCOMING_WEEKS weeks, later).
MAX_CHART_HEIGHT = (UPCOMING_WEEKS + 2) * 24 + 34


def svg_heights(page: str) -> dict[str, int]:
    return {
        m["id"]: int(m["h"]) for m in re.finditer(r'<svg id="(?P<id>[^"]+)"[^>]*\sheight="(?P<h>\d+)"', page)
    }


@pytest.mark.parametrize("users", [20, 5000])
def test_page_structure_is_bounded_and_self_contained(users: int) -> None:
    # Given the report of a synthetic account
    report = sample_report(users, NOW)

    # When it is rendered
    page = render_html(report)

    # Then nothing is fetched: no src/href, no URL, no import; the one script is inline
    assert not re.search(r"<[^>]*\s(src|href)=", page)
    assert "http" not in page
    assert "url(" not in page
    assert "@import" not in page
    assert page.count("<script") == 1
    assert "<script>" in page
    # ... every chart is there and none is taller than the bound, whatever the account's size
    heights = svg_heights(page)
    assert set(heights) == set(CHART_IDS)
    assert max(heights.values()) <= MAX_CHART_HEIGHT
    # ... the summary band has a compliance share per control and a count per severity
    assert re.search(r'<section id="summary" class="band">', page)
    for control in ("IAM.3", "IAM.22", "IAM.5", "IAM.8"):
        assert f'data-control="{control}"' in page
    for level in ("critical", "high", "medium", "low", "info"):
        assert f'data-severity="{level}"' in page
    # ... a per-owner table, and every credential row carries owner and severity
    assert '<table id="owner-table"' in page
    assert page.count('class="owner-row"') == 8
    assert page.count('class="credential-row') == len(report.rows)
    assert all(row["owner"].endswith("@example.com") for row in report.rows)
    assert '<input id="filter" type="search"' in page


def test_finding_rows_carry_age_last_use_and_next_step() -> None:
    report = sample_report(200, NOW)
    findings = [r for r in report.rows if r["status"] == "finding" and r["credential"] == "access_key"]
    assert findings
    assert all(r["age_days"] is not None for r in findings)
    assert all(r["due"] for r in findings)
    assert any(r["last_used"] for r in findings)


def test_exemptions_are_listed_with_their_end_dates() -> None:
    report = sample_report(200, NOW)
    exempt = [r for r in report.rows if r["status"] == "exempt"]
    dated = [r for r in exempt if r["deadline"]]
    permanent = [r for r in exempt if not r["deadline"]]
    assert dated
    assert permanent
    assert all("until 2026-12-31" in r["detail"] for r in dated)
    assert all("permanent" in r["detail"] for r in permanent)


def test_the_page_sorts_and_filters_in_a_real_browser(chromium: str, tmp_path: Path) -> None:  # noqa: F811
    # Given the 20-user page on disk
    written = write_report(sample_report(20, NOW), tmp_path / "out")

    # When headless Chromium loads it (scripts run; nothing can be fetched)
    dom_text = render(chromium, written["report.html"], tmp_path / "profile")

    # Then the inline script ran: it counted the rows it filters
    rows = Dom(dom_text).with_class("tr", "credential-row")
    assert len(rows) == 25
    assert '<span id="shown">25 of 25 rows</span>' in dom_text
