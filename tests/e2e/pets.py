"""PETS2009 S2L1 helpers for end-to-end tests (they live in :mod:`cctrace.evaluation.pets`)."""

from cctrace.evaluation.pets import (
    gt_pair_seconds,
    load_gt_boxes,
    map_tracklets_to_gt,
    write_pets_site,
)

__all__ = ["gt_pair_seconds", "load_gt_boxes", "map_tracklets_to_gt", "write_pets_site"]
