"""After a scheduled run: the compliance report to the report bucket and the findings to Security Hub.

The same report `credlife report --out DIR` writes (built by `credlife.report` from the run's plan rows,
the users and the audit log, which now includes this run's results). Each destination is optional and
independent: a failure of one is raised after the other was tried, so the run records it as a failure
without losing the other."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from credlife import asff
from credlife.aws.errors import NotFound
from credlife.domain.models import User
from credlife.ports import AuditEntry, RunSummary
from credlife.report import Report, build_report, render_csv, render_html, render_json

log = logging.getLogger("credlife.publishing")


class ReportStorePort(Protocol):
    def put(self, account_id: str, generated_at: datetime, files: Mapping[str, str]) -> list[str]: ...


class FindingsPort(Protocol):
    def imported(self, account_id: str, product_arn: str) -> list[dict[str, Any]]: ...

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> int: ...


class AuditLogPort(Protocol):
    def audit_log(
        self, account_id: str, *, since: datetime | None = None, phase: str | None = None
    ) -> list[AuditEntry]: ...


#: The report's "actions taken" cover this window: reading the whole audit trail every day would grow
#: without bound (entries live as long as the table's TTL keeps them).
ACTIONS_TAKEN_WINDOW = timedelta(days=30)


class PublishFailed(Exception):
    """One or more destinations failed (named, with the error type; never a finding's content)."""


class Publisher:
    def __init__(
        self,
        *,
        audit: AuditLogPort,
        reports: ReportStorePort | None,
        findings: FindingsPort | None,
        region: str,
        partition: str = "aws",
        thresholds: asff.Thresholds | None = None,
    ) -> None:
        self._audit = audit
        self._reports = reports
        self._findings = findings
        self._region = region
        self._partition = partition
        self._thresholds = thresholds or asff.Thresholds()
        #: What the last `publish` did (for logs, metrics and tests).
        self.last: dict[str, Any] = {}

    def publish(self, summary: RunSummary, users: Mapping[str, User], now: datetime) -> None:
        report = self.build(summary, users, now)
        judged = list(users.values())
        errors: list[str] = []
        self.last = {}
        if self._reports is not None:
            try:
                files = {
                    "report.html": render_html(report),
                    "report.csv": render_csv(report),
                    "report.json": render_json(report),
                }
                self.last["report_keys"] = self._reports.put(summary.account_id, now, files)
            except Exception as error:
                log.exception("report not written")
                errors.append(f"report: {type(error).__name__}")
        if self._findings is not None:
            try:
                self.last["findings"] = self.export(report, judged, now)
            except Exception as error:
                log.exception("findings not exported")
                errors.append(f"security hub: {type(error).__name__}: {error}"[:300])
        if errors:
            raise PublishFailed("; ".join(errors))

    def build(self, summary: RunSummary, users: Mapping[str, User], now: datetime) -> Report:
        try:
            audit: list[AuditEntry] | None = self._audit.audit_log(
                summary.account_id, since=now - ACTIONS_TAKEN_WINDOW, phase="result"
            )
        except NotFound:
            audit = None
        return build_report(
            account_id=summary.account_id,
            now=now,
            dry_run=summary.dry_run,
            actions=summary.actions,
            users=users.values(),
            audit=audit,
            unused_after_days=self._thresholds.unused_after_days,
        )

    def export(self, report: Report, users: Sequence[User], now: datetime) -> dict[str, int]:
        """Import new, changed and stale findings, resolve the fixed ones; counts by kind."""
        assert self._findings is not None
        product = asff.product_arn(self._partition, self._region, report.account_id)
        current = asff.build_findings(
            report, users, region=self._region, partition=self._partition, thresholds=self._thresholds
        )
        before = self._findings.imported(report.account_id, product)
        changes = asff.reconcile(current, before, now=now, exempt=asff.exempt_users(report))
        if changes:
            self._findings.import_findings(changes)
        return {
            "active": len(current),
            "imported": sum(1 for f in changes if f["RecordState"] == "ACTIVE"),
            "archived": sum(1 for f in changes if f["RecordState"] == "ARCHIVED"),
        }
