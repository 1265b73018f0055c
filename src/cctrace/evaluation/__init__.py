"""Accuracy evaluation on real labelled data: one command, one table (``cctrace eval``).

Each stage module (faces, masks, mot, contacts, trace) exposes
``evaluate(ctx: EvalContext) -> list[Metric]``; :mod:`cctrace.evaluation.runner` runs
them and writes the table, JSON and chart.
"""

from cctrace.evaluation.metrics import EvalContext, Metric

__all__ = ["EvalContext", "Metric"]
