"""The compliance report (`credlife report --out DIR`): `report.html`, `report.csv` and `report.json`.

Pure rendering: built from the plan's rows (`Action`), the snapshot's users, and the audit log's entries
(actions taken; None when there is no state table). No boto3, no clock (the time is passed in), no I/O
except `write_report`, which only writes the three files. The HTML page is self-contained: inline CSS and
inline SVG charts, no script, no font, no link to anything outside the page; every value is escaped.

One row per credential: every plan row as `plan --json` prints it (same user, credential, key_id, action,
reason, control), plus an `ok` row (`action` "none") for each access key and console password the plan
has nothing to say about, so the report covers every credential of the account."""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from credlife.domain.actions import CIS_BENCHMARK, SECURITY_HUB_STANDARD, Action, ActionKind
from credlife.domain.advice import user_kind
from credlife.domain.models import CredentialType, User
from credlife.ports import AuditEntry

#: The columns of report.csv (and the keys of each row in report.json), in order.
COLUMNS: Final = (
    "user",
    "user_kind",
    "credential",
    "key_id",
    "key_created",
    "status",
    "last_used",
    "age_days",
    "action",
    "warns_of",
    "stage",
    "reason",
    "control",
    "severity",
    "owner",
    "due",
    "deadline",
    "dry_run",
    "detail",
)
#: The ids of the charts in report.html (the acceptance test looks for them in the rendered page).
CHART_IDS: Final = (
    "chart-key-age",
    "chart-mfa-coverage",
    "chart-unused",
    "chart-actions-taken",
    "chart-upcoming",
)
AGE_BUCKETS: Final = ((0, 30, "0-29 d"), (30, 60, "30-59 d"), (60, 90, "60-89 d"), (90, 180, "90-179 d"))
NO_ACTION: Final = "none"
_INFORMATIONAL: Final = frozenset({ActionKind.EXEMPT.value, NO_ACTION})


@dataclass(frozen=True, slots=True)
class Report:
    account_id: str
    generated_at: datetime
    dry_run: bool
    rows: tuple[dict[str, Any], ...]
    controls: tuple[dict[str, Any], ...]
    #: Actions taken, from the audit log (result entries); None: no audit log (no state table).
    taken: tuple[dict[str, Any], ...] | None
    charts: Mapping[str, tuple[tuple[str, int], ...]]
    #: How many days back `taken` reaches (the audit window read).
    audit_days: int = 30

    def as_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "generated_at": _iso(self.generated_at),
            "dry_run": self.dry_run,
            "rows": list(self.rows),
            "controls": list(self.controls),
            "actions_taken": None if self.taken is None else list(self.taken),
            "charts": {name: [list(bar) for bar in bars] for name, bars in self.charts.items()},
        }


def build_report(
    *,
    account_id: str,
    now: datetime,
    dry_run: bool,
    actions: Sequence[Action],
    users: Iterable[User],
    audit: Sequence[AuditEntry] | None,
    unused_after_days: int = 45,
    owner_of: Callable[[User], str] | None = None,
    audit_days: int = 30,
) -> Report:
    """Everything the three files show, from the plan rows, the users and the audit log. `owner_of`
    names each user's owner (the notices' owner rules); without it the owner column says "-"."""
    users = tuple(users)
    kinds = {u.name: user_kind(u) for u in users}
    by_name = {u.name: u for u in users}
    rows = [_with_facts(_plan_row(a, kinds.get(a.user, "-")), a, by_name.get(a.user), now) for a in actions]
    rows.extend(_ok_rows(users, actions, kinds, now))
    owners = {u.name: owner_of(u) for u in users} if owner_of is not None else {}
    for row in rows:
        row["owner"] = owners.get(row["user"], "-")
    rows.sort(key=lambda r: (r["user"], r["credential"], r["key_created"] or "", r["action"]))
    taken = None if audit is None else tuple(_taken(audit))
    charts = {
        "chart-key-age": _key_ages(users, now),
        "chart-mfa-coverage": _mfa_coverage(users),
        "chart-unused": _unused(users, now, unused_after_days),
        "chart-actions-taken": tuple(
            sorted(Counter(f"{t['action']}: {t['outcome']}" for t in _within(taken or (), now, 30)).items())
        ),
        "chart-upcoming": _upcoming(actions, now),
    }
    return Report(
        account_id=account_id,
        generated_at=now,
        dry_run=dry_run,
        rows=tuple(rows),
        controls=tuple(control_summary(rows)),
        taken=taken,
        charts=charts,
        audit_days=audit_days,
    )


def control_summary(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Findings grouped by control: CIS AWS Foundations and Security Hub ids, reasons, rows and users."""
    grouped: dict[str, dict[str, Any]] = {}
    for row in rows:
        control = str(row.get("control") or "-")
        if row["action"] in _INFORMATIONAL or control == "-":
            continue
        cis, _, hub = control.partition(" / ")
        entry = grouped.setdefault(
            control,
            {
                "control": control,
                "cis": cis.strip() if cis.startswith("CIS") else "",
                "security_hub": hub.strip() if hub else ("" if cis.startswith("CIS") else cis.strip()),
                "reasons": set(),
                "findings": 0,
                "users": set(),
            },
        )
        entry["reasons"].add(row["reason"])
        entry["findings"] += 1
        entry["users"].add(row["user"])
    return [
        {**entry, "reasons": sorted(entry["reasons"]), "users": len(entry["users"])}
        for _, entry in sorted(grouped.items())
    ]


# -- the three files ----------------------------------------------------------------------------------


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow({k: csv_cell(row.get(k)) for k in COLUMNS})
    return out.getvalue()


#: A spreadsheet reads a cell starting with one of these as a formula (CSV injection: a user name or a
#: tag value like `=HYPERLINK(...)` would run when the CSV is opened).
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """The value as a CSV cell: None empty; text that a spreadsheet would read as a formula prefixed with
    an apostrophe (shown as text, never evaluated)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def render_json(report: Report) -> str:
    return json.dumps(report.as_json(), indent=2, sort_keys=True) + "\n"


def render_html(report: Report) -> str:
    e = _e
    findings = sum(1 for r in report.rows if r["action"] not in _INFORMATIONAL)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>credlife report {e(report.account_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Credential report, account {e(report.account_id)}</h1>",
        f'<p class="meta">Generated {e(_iso(report.generated_at))}'
        f"{' (dry-run policy)' if report.dry_run else ''}: {len(report.rows)} credential row(s), "
        f"{findings} finding(s).</p>",
        _summary_band(report),
        '<section id="charts"><h2>Overview</h2><div class="charts">',
        _bar_chart("chart-key-age", "Active access keys by age", report.charts["chart-key-age"]),
        _bar_chart(
            "chart-mfa-coverage", "MFA coverage of console users", report.charts["chart-mfa-coverage"]
        ),
        _bar_chart("chart-unused", "Unused credentials", report.charts["chart-unused"]),
        _bar_chart(
            "chart-actions-taken",
            "Actions taken (audit log)" if report.taken is not None else "Actions taken (no audit log)",
            report.charts["chart-actions-taken"],
        ),
        _bar_chart(
            "chart-upcoming", "Actions: overdue, then upcoming by week", report.charts["chart-upcoming"]
        ),
        "</div></section>",
        '<section id="controls"><h2>Controls</h2>',
        f'<p class="meta">CIS numbers: {e(CIS_BENCHMARK)}. Security Hub ids: {e(SECURITY_HUB_STANDARD)}.</p>',
        '<table id="control-summary"><thead><tr><th>Control</th><th>CIS</th><th>Security Hub</th>'
        "<th>Reasons</th><th>Findings</th><th>Users</th></tr></thead><tbody>",
    ]
    for c in report.controls:
        parts.append(
            f'<tr class="control-row"><td>{e(c["control"])}</td><td>{e(c["cis"])}</td>'
            f"<td>{e(c['security_hub'])}</td><td>{e(', '.join(c['reasons']))}</td>"
            f'<td class="num">{e(c["findings"])}</td><td class="num">{e(c["users"])}</td></tr>'
        )
    if not report.controls:
        parts.append('<tr><td colspan="6">no findings</td></tr>')
    parts.append("</tbody></table></section>")
    parts.append(_owner_table(report))
    parts.append(
        '<section id="users"><h2>Users</h2><p class="tools"><label>Filter <input id="filter" type="search" '
        'placeholder="user, key, action, owner, severity"></label> <span id="shown"></span> '
        "Click a column heading to sort.</p>"
    )
    by_user: dict[str, list[dict[str, Any]]] = {}
    for row in report.rows:
        by_user.setdefault(row["user"], []).append(row)
    for user, rows in by_user.items():
        parts.append(
            f'<div class="user"><h3>{e(user)} <span class="kind">{e(rows[0]["user_kind"])}</span></h3>'
            f'<table class="user-table" data-user="{e(user)}"><thead><tr>'
            "<th>Credential</th><th>Key id</th><th>Created</th><th>Last used</th><th>Age (d)</th>"
            "<th>Action</th><th>Severity</th><th>Owner</th><th>Reason</th><th>Control</th><th>Due</th>"
            "<th>Deadline</th><th>Detail</th>"
            "</tr></thead><tbody>"
        )
        for r in rows:
            action = r["action"] + (f" ({r['warns_of']}, {r['stage']})" if r["warns_of"] else "")
            parts.append(
                f'<tr class="credential-row {e(_status_class(r))} sev-{e(r["severity"] or "info")}" '
                f'data-user="{e(user)}" '
                f'data-credential="{e(r["credential"])}" data-key-id="{e(r["key_id"] or "")}" '
                f'data-action="{e(r["action"])}" data-reason="{e(r["reason"] or "")}">'
                f"<td>{e(r['credential'])}</td><td>{e(r['key_id'] or '-')}</td>"
                f"<td>{e(_day(r['key_created']))}</td><td>{e(_day(r['last_used']))}</td>"
                f'<td class="num">{e(r["age_days"] if r["age_days"] is not None else "-")}</td>'
                f"<td>{e(action)}</td><td>{e(r['severity'] or '-')}</td><td>{e(r['owner'])}</td>"
                f"<td>{e(r['reason'] or '-')}</td><td>{e(r['control'] or '-')}</td>"
                f"<td>{e(_day(r['due']))}</td><td>{e(_day(r['deadline']))}</td><td>{e(r['detail'])}</td></tr>"
            )
        parts.append("</tbody></table></div>")
    parts.append(f"</section><script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def write_report(report: Report, out_dir: Path) -> dict[str, Path]:
    """Write report.html, report.csv and report.json into `out_dir` (created when missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, text in (
        ("report.html", render_html(report)),
        ("report.csv", render_csv(report)),
        ("report.json", render_json(report)),
    ):
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written[name] = path
    return written


# -- rows ---------------------------------------------------------------------------------------------


def _plan_row(action: Action, kind: str) -> dict[str, Any]:
    row: dict[str, Any] = dict(action.as_row())
    status = {ActionKind.EXEMPT: "exempt", ActionKind.ADVISE: "advice"}.get(action.action, "finding")
    return {"user_kind": kind, "status": status, "last_used": None, "age_days": None, **row}


def _ok_rows(
    users: Sequence[User], actions: Sequence[Action], kinds: Mapping[str, str], now: datetime
) -> list[dict[str, Any]]:
    """The credentials the plan says nothing about (exempt users' credentials are covered by their row)."""
    covered_keys = {
        (a.user, _second(a.key_created)) for a in actions if a.credential is CredentialType.ACCESS_KEY
    }
    covered_users = {a.user for a in actions if a.action is ActionKind.EXEMPT}
    covered_passwords = {a.user for a in actions if a.credential is CredentialType.PASSWORD}
    rows = []
    for user in users:
        if user.name in covered_users:
            continue
        for key in user.access_keys:
            if (user.name, _second(key.created)) in covered_keys:
                continue
            rows.append(
                _ok(
                    user,
                    kinds,
                    CredentialType.ACCESS_KEY,
                    key_id=key.key_id,
                    created=key.created,
                    last_used=key.last_used,
                    now=now,
                    detail=f"{key.status.value}",
                )
            )
        profile = user.login_profile
        if profile is not None and user.name not in covered_passwords:
            rows.append(
                _ok(
                    user,
                    kinds,
                    CredentialType.PASSWORD,
                    key_id=None,
                    created=profile.created,
                    last_used=profile.last_used,
                    now=now,
                    detail="MFA active" if user.mfa_active else "no MFA",
                )
            )
    return rows


def _ok(
    user: User,
    kinds: Mapping[str, str],
    credential: CredentialType,
    *,
    key_id: str | None,
    created: datetime,
    last_used: datetime | None,
    now: datetime,
    detail: str,
) -> dict[str, Any]:
    return {
        "user": user.name,
        "user_kind": kinds.get(user.name, "-"),
        "credential": credential.value,
        "key_id": key_id,
        "key_created": _iso(created),
        "status": "ok",
        "last_used": _iso(last_used),
        "age_days": (now - created).days,
        "action": NO_ACTION,
        "warns_of": None,
        "stage": None,
        "reason": None,
        "control": None,
        "severity": "info",
        "due": None,
        "deadline": None,
        "dry_run": None,
        "detail": detail,
    }


def _taken(audit: Sequence[AuditEntry]) -> list[dict[str, Any]]:
    return [
        {
            "at": _iso(entry.at),
            "run_id": entry.run_id,
            "user": entry.action.get("user"),
            "key_id": entry.action.get("key_id"),
            "action": entry.action.get("action"),
            "reason": entry.action.get("reason"),
            "outcome": entry.outcome,
        }
        for entry in audit
        if entry.phase == "result"
    ]


# -- chart data ---------------------------------------------------------------------------------------


def _key_ages(users: Sequence[User], now: datetime) -> tuple[tuple[str, int], ...]:
    counts = dict.fromkeys([label for _, _, label in AGE_BUCKETS] + ["180+ d"], 0)
    for user in users:
        for key in user.access_keys:
            if not key.active:
                continue
            age = (now - key.created).days
            label = next((lbl for lo, hi, lbl in AGE_BUCKETS if lo <= age < hi), "180+ d")
            counts[label] += 1
    return tuple(counts.items())


def _mfa_coverage(users: Sequence[User]) -> tuple[tuple[str, int], ...]:
    console = [u for u in users if u.login_profile is not None]
    with_mfa = sum(1 for u in console if u.mfa_active)
    return (("with MFA", with_mfa), ("without MFA", len(console) - with_mfa))


def _unused(users: Sequence[User], now: datetime, days: int) -> tuple[tuple[str, int], ...]:
    never = idle = inactive = passwords = 0
    for user in users:
        for key in user.access_keys:
            if not key.active:
                inactive += 1
            elif key.last_used is None:
                never += (now - key.created).days >= days
            elif (now - key.last_used).days >= days:
                idle += 1
        profile = user.login_profile
        if profile is not None and (now - (profile.last_used or profile.created)).days >= days:
            passwords += 1
    return (
        (f"keys never used ≥{days} d", never),
        (f"keys unused ≥{days} d", idle),
        ("inactive keys", inactive),
        (f"passwords unused ≥{days} d", passwords),
    )


#: Upcoming actions are drawn by week for this many weeks, the rest as one "later" bar: the chart's height
#: is bounded whatever the account's size.
UPCOMING_WEEKS: Final = 12
OVERDUE: Final = "overdue or due now"
LATER: Final = "later"


def _upcoming(actions: Sequence[Action], now: datetime) -> tuple[tuple[str, int], ...]:
    """Overdue actions (due at or before now) apart, then upcoming ones by ISO week (labelled by its
    Monday), then one "later" bar: at most UPCOMING_WEEKS + 2 bars."""
    overdue, later = 0, 0
    weeks: Counter[str] = Counter()
    this_monday = (now.astimezone(UTC) - timedelta(days=now.astimezone(UTC).weekday())).date()
    for action in actions:
        if action.action.value in _INFORMATIONAL or action.action is ActionKind.ADVISE:
            continue
        when = action.deadline if action.action is ActionKind.WARN and action.deadline else action.due
        if when <= now:
            overdue += 1
            continue
        monday = (when.astimezone(UTC) - timedelta(days=when.astimezone(UTC).weekday())).date()
        if (monday - this_monday).days // 7 >= UPCOMING_WEEKS:
            later += 1
        else:
            weeks[f"week of {monday.isoformat()}"] += 1
    bars = [(OVERDUE, overdue)] if overdue else []
    bars.extend(sorted(weeks.items()))
    if later:
        bars.append((LATER, later))
    return tuple(bars)


def _with_facts(row: dict[str, Any], action: Action, user: User | None, now: datetime) -> dict[str, Any]:
    """A finding row with its credential's age and last use, as the `ok` rows have them."""
    if user is None:
        return row
    if action.credential is CredentialType.ACCESS_KEY and action.key_created is not None:
        created = _second(action.key_created)
        key = next((k for k in user.access_keys if _second(k.created) == created), None)
        if key is not None:
            row["last_used"] = _iso(key.last_used)
            row["age_days"] = (now - key.created).days
    elif action.credential is CredentialType.PASSWORD and user.login_profile is not None:
        row["last_used"] = _iso(user.login_profile.last_used)
        row["age_days"] = (now - user.login_profile.created).days
    return row


# -- summary band and owners ------------------------------------------------------------------------

#: The credential rows each control is judged on (its population), by Security Hub control id.
_POPULATION: Final = {
    "IAM.3": "access_key",
    "IAM.22": "access_key",
    "IAM.5": "password",
    "IAM.8": "password",
}
SEVERITIES: Final = ("critical", "high", "medium", "low", "info")
#: The windows of the actions-taken trend (each shown when the audit read reaches that far).
TREND_DAYS: Final = (30, 90)


def _within(taken: Iterable[Mapping[str, Any]], now: datetime, days: int) -> list[Mapping[str, Any]]:
    since = _iso(now - timedelta(days=days)) or ""
    return [t for t in taken if str(t.get("at") or "") >= since]


def summary(report: Report) -> dict[str, Any]:
    """The numbers a reader wants first: share of compliant credentials per control, findings by
    severity, exemptions (dated and permanent), and actions taken in the audit window."""
    credentials: dict[str, set[tuple[str, str]]] = {}
    failing: dict[str, set[tuple[str, str]]] = {}
    for row in report.rows:
        if row["status"] in {"exempt", "advice"}:
            continue
        ident = (row["user"], str(row["key_id"] or row["key_created"] or row["credential"]))
        credentials.setdefault(row["credential"], set()).add(ident)
        if row["status"] == "finding":
            hub = str(row.get("control") or "").rpartition("/ ")[2].strip()
            failing.setdefault(hub, set()).add(ident)
    compliant = {}
    for hub, kind in _POPULATION.items():
        population = credentials.get(kind, set())
        if population:
            bad = len(failing.get(hub, set()) & population)
            compliant[hub] = (len(population) - bad, len(population))
    severity = Counter(str(r["severity"]) for r in report.rows if r["status"] == "finding")
    exempt = [r for r in report.rows if r["status"] == "exempt"]
    return {
        "compliant": compliant,
        "severity": {level: severity.get(level, 0) for level in SEVERITIES},
        "exempt_dated": sum(1 for r in exempt if r["deadline"]),
        "exempt_permanent": sum(1 for r in exempt if not r["deadline"]),
        "taken": None
        if report.taken is None
        else {
            days: len(_within(report.taken, report.generated_at, days))
            for days in TREND_DAYS
            if days <= report.audit_days
        },
    }


def _summary_band(report: Report) -> str:
    e = _e
    facts = summary(report)
    cells = [
        f'<div class="tile" data-control="{e(hub)}"><b>{100 * ok // total}%</b> compliant<br>'
        f"<small>{e(hub)}: {ok} of {total}</small></div>"
        for hub, (ok, total) in sorted(facts["compliant"].items())
    ]
    cells.extend(
        f'<div class="tile sev-{level}" data-severity="{level}"><b>{count}</b> {level}</div>'
        for level, count in facts["severity"].items()
    )
    cells.append(
        f'<div class="tile"><b>{facts["exempt_dated"] + facts["exempt_permanent"]}</b> exempt<br>'
        f"<small>{facts['exempt_dated']} dated, {facts['exempt_permanent']} permanent</small></div>"
    )
    if facts["taken"] is None:
        taken = "no audit log"
    else:
        taken = ", ".join(f"{count} in {days} d" for days, count in facts["taken"].items())
    cells.append(f'<div class="tile" id="trend"><b>actions taken</b><br><small>{e(taken)}</small></div>')
    return f'<section id="summary" class="band">{"".join(cells)}</section>'


def _owner_table(report: Report) -> str:
    """One row per owner: users, credentials, findings by severity, the earliest next step."""
    e = _e
    owners: dict[str, dict[str, Any]] = {}
    for row in report.rows:
        entry = owners.setdefault(
            row["owner"], {"users": set(), "credentials": 0, "findings": Counter(), "next": None}
        )
        entry["users"].add(row["user"])
        entry["credentials"] += 1
        if row["status"] == "finding":
            entry["findings"][row["severity"]] += 1
            step = row["deadline"] or row["due"]
            if step and (entry["next"] is None or step < entry["next"]):
                entry["next"] = step
    parts = [
        '<section id="owners"><h2>Owners</h2><table id="owner-table" class="sortable"><thead><tr>'
        "<th>Owner</th><th>Users</th><th>Credentials</th><th>Findings</th><th>Critical/high</th>"
        "<th>Next dated step</th></tr></thead><tbody>"
    ]
    for owner, entry in sorted(owners.items(), key=lambda kv: (-sum(kv[1]["findings"].values()), kv[0])):
        findings = entry["findings"]
        parts.append(
            f'<tr class="owner-row" data-owner="{e(owner)}"><td>{e(owner)}</td>'
            f'<td class="num">{len(entry["users"])}</td><td class="num">{entry["credentials"]}</td>'
            f'<td class="num">{sum(findings.values())}</td>'
            f'<td class="num">{findings["critical"] + findings["high"]}</td>'
            f"<td>{e(_day(entry['next']))}</td></tr>"
        )
    parts.append("</tbody></table></section>")
    return "".join(parts)


# -- rendering helpers --------------------------------------------------------------------------------


def _bar_chart(chart_id: str, title: str, bars: Sequence[tuple[str, int]]) -> str:
    """A horizontal bar chart as inline SVG (no script): one `rect.bar` and two labels per bar."""
    e = _e
    row_h, label_w, bar_w = 24, 170, 220
    height = max(1, len(bars)) * row_h + 34
    top = max((value for _, value in bars), default=0) or 1
    parts = [
        f'<figure class="chart"><svg id="{e(chart_id)}" role="img" width="{label_w + bar_w + 50}" '
        f'height="{height}" viewBox="0 0 {label_w + bar_w + 50} {height}" aria-labelledby="{e(chart_id)}-t">'
        f'<title id="{e(chart_id)}-t">{e(title)}</title>'
        f'<text x="0" y="16" class="chart-title">{e(title)}</text>'
    ]
    if not bars:
        parts.append('<text x="0" y="44" class="empty">none</text>')
    for i, (label, value) in enumerate(bars):
        y = 28 + i * row_h
        width = round(bar_w * value / top)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{e(label)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{width}" height="{row_h - 8}" '
            f'data-label="{e(label)}" data-value="{value}"></rect>'
            f'<text x="{label_w + width + 4}" y="{y + 15}">{value}</text>'
        )
    parts.append("</svg></figure>")
    return "".join(parts)


def _status_class(row: Mapping[str, Any]) -> str:
    return f"status-{row['status']}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _second(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC).replace(microsecond=0) if value else None


def _day(value: str | None) -> str:
    return value[:10] if value else "-"


_CSS: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1b1f24}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem}h3{font-size:1rem;margin:1.2rem 0 .3rem}
.meta{color:#555}.charts{display:flex;flex-wrap:wrap;gap:1.5rem}.chart{margin:0}
svg text{font-size:12px;fill:#1b1f24}.chart-title{font-weight:600}.bar{fill:#2f6fb0}
table{border-collapse:collapse;font-size:.85rem}th,td{border:1px solid #ccd;padding:.25rem .45rem;
text-align:left}th{background:#eef1f5}.num{text-align:right}.kind{font-weight:400;color:#666}
.status-finding td{background:#fff4e5}.status-advice td{background:#eef6ff}
.status-exempt td{background:#f3f3f3}
.band{display:flex;flex-wrap:wrap;gap:.6rem;margin:1rem 0}.tile{border:1px solid #ccd;border-radius:6px;
padding:.4rem .7rem;min-width:7rem}.tile b{font-size:1.2rem}
.sev-critical td,.tile.sev-critical{background:#fde2e1;font-weight:600}
.sev-high td,.tile.sev-high{background:#ffe9d6}
.tools input{min-width:18rem}th{cursor:pointer}
"""

#: Inline, no network: a filter box over every credential row and sorting by column heading. Written
#: without a double slash or a URL (the page is checked for both).
_SCRIPT: Final = """
(function(){
var box=document.getElementById("filter"),shown=document.getElementById("shown");
var rows=Array.prototype.slice.call(document.querySelectorAll("tr.credential-row"));
function apply(){var q=box.value.toLowerCase().trim(),n=0;rows.forEach(function(r){
var hit=!q||r.textContent.toLowerCase().indexOf(q)>=0;r.style.display=hit?"":"none";if(hit){n++;}});
document.querySelectorAll("div.user").forEach(function(d){
d.style.display=d.querySelector("tr.credential-row:not([style*=none])")?"":"none";});
shown.textContent=n+" of "+rows.length+" rows";}
box.addEventListener("input",apply);apply();
document.querySelectorAll("table").forEach(function(t){var hs=t.querySelectorAll("thead th");
hs.forEach(function(h,i){h.addEventListener("click",function(){var b=t.tBodies[0];
var asc=h.getAttribute("data-sort")!=="asc";hs.forEach(function(o){o.removeAttribute("data-sort");});
h.setAttribute("data-sort",asc?"asc":"desc");
var rs=Array.prototype.slice.call(b.rows);rs.sort(function(x,y){var a=x.cells[i].textContent,
c=y.cells[i].textContent,na=parseFloat(a),nc=parseFloat(c);
var r=(!isNaN(na)&&!isNaN(nc))?na-nc:a.localeCompare(c);return asc?r:-r;});
rs.forEach(function(r){b.appendChild(r);});});});});
})();
"""
