"""A long fuzzing campaign: every property of tests/test_fuzz.py with a large example budget.

    python bench/fuzz_campaign.py --minutes 10 [--only render] [--seed 0]

The time is split evenly between the properties (extract[<each extractor>] on random bytes, random text, mutated
sources and generated Python; the pages of hostile trees). Each one runs as rounds of hypothesis runs, a fresh
seed per round, sized from the rate measured so far, until its share of the time is spent. A failure ends its
round (hypothesis shrinks it) and the property goes on with the next seed, so one bug does not hide the others;
failures are told apart by exception type and the line that raised. Prints how many examples ran per property
and each distinct failure with the minimal example hypothesis shrank it to; exits 1 on a failure.
The CI-sized version of the same properties is `python -m pytest tests/test_fuzz.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.test_fuzz import properties

MIN_ROUND, MAX_ROUND = 20, 5000
"""Examples per hypothesis run: few at first, then half what the remaining time allows at the measured rate
(later examples are often bigger and slower than the first ones)."""


@dataclass
class Outcome:
    label: str
    examples: int = 0
    rounds: int = 0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)
    """Where it failed (exception type and the line that raised) -> hypothesis's report of its first occurrence."""
    repeats: int = 0


def run_property(
    label: str, strategy: st.SearchStrategy[Any], check: Callable[[Any], object], budget: float, first_seed: int
) -> Outcome:
    """Run `check` on values of `strategy` for about `budget` seconds, collecting distinct failures."""
    outcome = Outcome(label)
    start = time.monotonic()
    while (remaining := budget - (time.monotonic() - start)) > 0:
        rate = outcome.examples / max(time.monotonic() - start, 1e-9)
        size = MIN_ROUND if not outcome.examples else int(min(MAX_ROUND, max(MIN_ROUND, rate * remaining / 2)))

        @settings(
            max_examples=size,
            deadline=None,
            database=None,
            derandomize=False,
            report_multiple_bugs=False,
            phases=(Phase.generate, Phase.target, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        )
        @seed(first_seed + outcome.rounds)
        @given(value=strategy)
        def one_round(value: Any) -> None:
            outcome.examples += 1
            check(value)

        outcome.rounds += 1
        try:
            one_round()
        except Exception as exc:  # a property failed: keep hypothesis's report (the minimal example is in it)
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
            outcome.repeats += where in outcome.failures
            outcome.failures.setdefault(where, "".join(traceback.format_exception(exc)))
    outcome.seconds = time.monotonic() - start
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="total time, split evenly (default 10)")
    parser.add_argument("--only", default="", help="run only the properties whose label contains this text")
    parser.add_argument("--seed", type=int, default=0, help="first hypothesis seed (default 0)")
    args = parser.parse_args(argv)
    chosen = [p for p in properties() if args.only in p[0]]
    if not chosen:
        parser.error(f"no property matches {args.only!r}")
    budget = args.minutes * 60 / len(chosen)
    print(f"fuzz campaign: {len(chosen)} properties, {budget:.0f} s each", flush=True)
    outcomes = []
    for index, (label, strategy, check) in enumerate(chosen):
        outcome = run_property(label, strategy, check, budget, args.seed + 1_000_000 * index)
        status = f"FAILED ({len(outcome.failures)} distinct, {outcome.repeats} repeats)" if outcome.failures else "ok"
        print(
            f"  {label:<40} {outcome.examples:>9,} examples {outcome.rounds:>4} rounds "
            f"{outcome.seconds:7.1f} s {outcome.examples / max(outcome.seconds, 1e-9):8.1f}/s  {status}",
            flush=True,
        )
        for where, report in outcome.failures.items():
            print(f"--- {label}: {where}\n{report}", flush=True)
        outcomes.append(outcome)
    failed = [o.label for o in outcomes if o.failures]
    total = sum(o.examples for o in outcomes)
    print(f"fuzz campaign: {total:,} examples, {len(failed)} failing properties" + (f": {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
