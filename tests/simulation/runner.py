"""Runs many simulated accounts: in this process, or split over worker processes (one moto per process)."""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from moto import mock_aws

from credlife.handlers import scheduled
from tests.simulation import faults, observe, speed
from tests.simulation.engine import AccountResult, AccountSim, Violation

#: Every this-many-th account runs in dry-run mode; the others live.
DRY_RUN_EVERY = 5


@dataclass
class Figures:
    accounts: int = 0
    days: int = 0
    runs: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)

    def add(self, result: AccountResult) -> None:
        self.accounts += 1
        self.days = max(self.days, result.days)
        self.runs += result.runs
        self.seconds += result.seconds
        self.cpu_seconds += result.cpu_seconds
        self.faults.update(result.faults)
        self.checks.update(result.checks)
        self.violations.extend(result.violations)

    def as_json(self) -> dict[str, object]:
        """The figures (and every violation) as a JSON-ready mapping, e.g. for a CI artifact."""
        return {
            "accounts": self.accounts,
            "days": self.days,
            "runs": self.runs,
            "seconds_per_run": round(self.seconds / self.runs, 3) if self.runs else None,
            "cpu_seconds_per_run": round(self.cpu_seconds / self.runs, 3) if self.runs else None,
            "faults_injected": dict(sorted(self.faults.items())),
            "invariant_checks": dict(sorted(self.checks.items())),
            "violations": [vars(v) for v in self.violations],
        }

    def summary(self) -> str:
        per_run = self.seconds / self.runs if self.runs else 0.0
        cpu = self.cpu_seconds / self.runs if self.runs else 0.0
        return (
            f"simulation: {self.accounts} accounts x {self.days} days = {self.runs} runs, "
            f"{per_run * 1000:.0f} ms per run ({cpu * 1000:.0f} ms of CPU; wall time summed over workers: "
            f"{self.seconds:.0f} s)\n"
            f"faults injected: {dict(sorted(self.faults.items()))}\n"
            f"invariant checks: {dict(sorted(self.checks.items()))} (total {sum(self.checks.values())})\n"
            f"violations: {len(self.violations)}, by invariant "
            f"{dict(sorted(Counter(v.invariant for v in self.violations).items()))}, by class "
            f"{dict(sorted(Counter(v.issue_class for v in self.violations).items()))}"
        )


def run_accounts(
    seed: int,
    indices: Sequence[int],
    days: int,
    *,
    faults_on: bool = True,
    sabotage: Callable[[AccountSim, int], None] | None = None,
) -> list[AccountResult]:
    """Simulate the accounts `indices` one after the other, each in a fresh moto."""
    saved = dict(os.environ)
    results: list[AccountResult] = []
    try:
        with speed.faster(), faults.installed(), observe.tapped() as tap:
            for index in indices:
                with mock_aws():
                    sim = AccountSim(
                        seed,
                        index,
                        days,
                        dry_run=index % DRY_RUN_EVERY == DRY_RUN_EVERY - 1,
                        faults_on=faults_on,
                        env=os.environ,  # type: ignore[arg-type]
                        sabotage=sabotage,
                    )
                    sim.tap = tap
                    results.append(sim.run())
    finally:
        scheduled.use_runtime(None)
        os.environ.clear()
        os.environ.update(saved)
    return results


def _worker(args: tuple[int, list[int], int, bool]) -> list[AccountResult]:
    seed, indices, days, faults_on = args
    return run_accounts(seed, indices, days, faults_on=faults_on)


def simulate(
    seed: int,
    accounts: int,
    days: int,
    *,
    workers: int = 1,
    faults_on: bool = True,
    only: Sequence[int] | None = None,
) -> Figures:
    """Accounts 0..accounts-1 of `seed` (or only the listed ones), each for `days` days."""
    figures = Figures()
    indices = list(only) if only else list(range(accounts))
    if workers <= 1 or accounts < 2:
        for result in run_accounts(seed, indices, days, faults_on=faults_on):
            figures.add(result)
        return figures
    chunks = [(seed, indices[i::workers], days, faults_on) for i in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for results in pool.imap_unordered(_worker, chunks):
            for result in results:
                figures.add(result)
    return figures
