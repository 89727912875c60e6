"""The lifecycle simulation: seeded accounts, workloads, owners and faults, driven day by day through the
real scheduled handler, with the project's promise checked from the outside after every run (see
`engine.INVARIANTS`).

Small by default (a minute or so in `make test`); larger through the environment:

    CREDLIFE_SIM_ACCOUNTS=200 CREDLIFE_SIM_DAYS=120 CREDLIFE_SIM_WORKERS=2 \\
        .venv/bin/pytest -q -m simulation tests/simulation -s

`CREDLIFE_SIM_SEED` picks another calendar; a violation's message names the seed, account, day,
credential, invariant and evidence, so `CREDLIFE_SIM_SEED=<seed> CREDLIFE_SIM_ONLY=<account>` replays it.
The simulation runs once per session; each invariant is its own test, so a broken promise is named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.simulation.engine import INVARIANTS, Violation
from tests.simulation.runner import Figures, simulate

pytestmark = pytest.mark.simulation

SEED = int(os.environ.get("CREDLIFE_SIM_SEED", "20261129"))
ACCOUNTS = int(os.environ.get("CREDLIFE_SIM_ACCOUNTS", "4"))
DAYS = int(os.environ.get("CREDLIFE_SIM_DAYS", "40"))
WORKERS = int(os.environ.get("CREDLIFE_SIM_WORKERS", "1"))
ONLY = os.environ.get("CREDLIFE_SIM_ONLY")
#: Where to write the figures and every violation as JSON (e.g. a CI artifact); unset: nowhere.
REPORT = os.environ.get("CREDLIFE_SIM_REPORT")

#: Invariants the code still breaks somewhere in the larger calendars, with where a seed shows it. While an
#: invariant is listed, its violations make its test an expected failure (printed in full); once fixed it
#: simply passes, and its entry goes. (The default calendar of `make test` holds every invariant.)
#: None today: the lost result audit row (g) of seeds 12 and 99 is written on a retry now.
OPEN: dict[str, str] = {}


@pytest.fixture(scope="session")
def figures() -> Figures:
    result = simulate(
        SEED,
        ACCOUNTS,
        DAYS,
        workers=WORKERS,
        only=[int(i) for i in ONLY.split(",")] if ONLY else None,
    )
    print("\n" + result.summary())
    for violation in result.violations:
        print(violation)
    if REPORT:
        Path(REPORT).write_text(json.dumps(result.as_json(), indent=1, default=str) + "\n", encoding="utf-8")
    return result


def _report(violations: list[Violation]) -> str:
    shown = "\n".join(str(v) for v in violations[:20])
    more = f"\n... and {len(violations) - 20} more" if len(violations) > 20 else ""
    return f"{len(violations)} violation(s):\n{shown}{more}"


@pytest.mark.parametrize("invariant", sorted(INVARIANTS))
def test_invariant_holds(figures: Figures, invariant: str) -> None:
    # Given the seeded accounts simulated day by day (faults included)
    # Then no run broke this part of the promise
    broken = [v for v in figures.violations if v.invariant == invariant]
    if broken and invariant in OPEN:
        pytest.xfail(f"known open: {OPEN[invariant]}; this run: " + _report(broken))
    assert not broken, f"invariant ({invariant}) {INVARIANTS[invariant]}: " + _report(broken)


def test_the_simulation_exercised_what_it_checks(figures: Figures) -> None:
    # Then the figures show real work: every run checked, faults injected, disruptive actions judged
    assert figures.runs == figures.accounts * DAYS
    assert figures.checks["f"] >= figures.runs
    assert figures.checks["a"] > 0, "no disruptive action happened: the calendar is too short"
    if not ONLY:
        assert sum(figures.faults.values()) > 0
