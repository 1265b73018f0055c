"""The accuracy table: every stage measured on real labelled data (one command).

    python bench/accuracy.py            # full run -> bench/results/accuracy.{json,md,png}
    python bench/accuracy.py --quick    # the CI subset -> bench/results/accuracy-quick.*

Same as ``cctrace eval``; this script writes into ``bench/results`` so the stored
baselines (used by ``tests/evaluation/test_accuracy_regression.py``) and the README's
table come from one place. Data: ``$CCTRACE_SHARED_DATA`` or ``../shared/data``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cctrace.evaluation.metrics import default_shared_data
from cctrace.evaluation.runner import STAGES, print_table, run_eval, write_outputs

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="the CI subset")
    parser.add_argument("--stage", action="append", choices=sorted(STAGES), default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    data = args.data or default_shared_data()
    if not data.is_dir():
        sys.stderr.write(f"no reference data at {data} (set CCTRACE_SHARED_DATA)\n")
        return 2
    report = run_eval(
        data,
        stages=args.stage,
        quick=args.quick,
        threads=args.threads,
        progress=lambda s: print(f"evaluating {s} ...", file=sys.stderr, flush=True),
    )
    print_table(report)
    stem = "accuracy-quick" if args.quick else "accuracy"
    if args.stage:
        stem += "-" + "-".join(args.stage)
    paths = write_outputs(report, args.out, stem)
    print("written:", *paths.values())
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
