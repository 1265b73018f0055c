"""Overlapping cameras fused by ground position, scored on WILDTRACK's real geometry.

WILDTRACK (EPFL CVLab / ETH / Idiap, CVPR 2018; annotations via OpenTraj, MIT) has seven
calibrated 1920x1080 cameras over one square, 400 annotated instants at 2 fps, and the
same ``personID`` for a person in every view. No images: this scores the geometric half
of cross-camera linking, the way cctrace runs it:

1. Each camera gets a cctrace ground calibration fitted, as an installer would, to
   surveyed points: 20 ground points over the square projected into the view through the
   published intrinsics and extrinsics (:func:`view_calibration`).
2. Each person's run of consecutive instants in a view is one tracklet; its ground path
   is the box's foot point (bottom centre) through that calibration, exactly as ingest
   maps detections (optionally with the box jittered like a detector's).
3. :func:`cctrace.tracing.stitching.linked_fragments` links tracklets of different
   cameras that walk the same ground path at the same time (and same-camera
   continuations); each connected group is one fused identity.

Scores: foot-point error against the annotated ground position; link precision and
recall over pairs of tracklets; and IDF1 of the fused identities over every box (each box
is both a ground-truth and a predicted instance, so IDF1 = IDTP / boxes, the optimal
one-to-one matching of fused identities to people).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from defusedxml import ElementTree as ET

from cctrace.geometry import GroundCalibration
from cctrace.tracing.stitching import Fragment, linked_fragments

VIEWS = ("CVLab1", "CVLab2", "CVLab3", "CVLab4", "IDIAP1", "IDIAP2", "IDIAP3")
STEP_S = 0.5
"""Annotated instants are every 5th frame of 10 fps video: 2 per second."""
GRID_CM = 2.5
ORIGIN_CM = (-300.0, -900.0)
GRID_WIDTH = 480


@dataclass(frozen=True)
class Box:
    """One person in one view at one instant."""

    instant: int
    person: int
    view: int
    xyxy: tuple[float, float, float, float]
    ground_m: tuple[float, float]


def position_m(position_id: int) -> tuple[float, float]:
    """Ground position (metres) of a WILDTRACK grid cell."""
    x = (ORIGIN_CM[0] + GRID_CM * (position_id % GRID_WIDTH)) / 100.0
    y = (ORIGIN_CM[1] + GRID_CM * (position_id // GRID_WIDTH)) / 100.0
    return x, y


def load_boxes(root: Path, max_instants: int | None = None) -> list[Box]:
    """Every visible box of every annotated instant (the first ``max_instants``)."""
    boxes: list[Box] = []
    files = sorted((root / "annotations_positions").glob("*.json"))[:max_instants]
    for instant, path in enumerate(files):
        for entry in json.loads(path.read_text()):
            ground = position_m(int(entry["positionID"]))
            for view in entry["views"]:
                if view["xmin"] < 0 or view["xmax"] <= view["xmin"] or view["ymax"] <= view["ymin"]:
                    continue
                boxes.append(
                    Box(
                        instant,
                        int(entry["personID"]),
                        int(view["viewNum"]),
                        (
                            float(view["xmin"]),
                            float(view["ymin"]),
                            float(view["xmax"]),
                            float(view["ymax"]),
                        ),
                        ground,
                    )
                )
    return boxes


def _matrix(path: Path, tag: str) -> np.ndarray:
    node = ET.parse(path).getroot().find(tag)
    if node is None:
        raise ValueError(f"{path}: no <{tag}>")
    data = node.find("data")
    text = (data.text if data is not None else node.text) or ""
    return np.array([float(v) for v in text.split()])


def view_calibration(root: Path, view: int) -> GroundCalibration:
    """A cctrace ground calibration of one view, fitted to 20 surveyed ground points
    (a 5 x 4 grid over the annotated square, projected with the published calibration)."""
    name = VIEWS[view]
    cal = root / "calibrations"
    camera = _matrix(cal / "intrinsic_zero" / f"intr_{name}.xml", "camera_matrix").reshape(3, 3)
    rvec = _matrix(cal / "extrinsic" / f"extr_{name}.xml", "rvec")
    tvec = _matrix(cal / "extrinsic" / f"extr_{name}.xml", "tvec")
    xs = np.linspace(-3.0, 9.0, 5)
    ys = np.linspace(-9.0, 26.0, 4)
    ground = np.array([(x, y) for x in xs for y in ys])
    world_cm = np.column_stack([ground * 100.0, np.zeros(len(ground))])
    image, _ = cv2.projectPoints(world_cm, rvec, tvec, camera, np.zeros(5))
    image = image.reshape(-1, 2)
    # Keep points in front of the camera and not absurdly far outside the frame.
    rotation, _ = cv2.Rodrigues(rvec)
    depth = (world_cm @ rotation.T + tvec)[:, 2]
    ok = (depth > 0) & (np.abs(image[:, 0]) < 6000) & (np.abs(image[:, 1]) < 6000)
    return GroundCalibration.fit(image[ok].tolist(), ground[ok].tolist())


def foot_points(boxes: Iterable[Box], jitter: float, seed: int) -> np.ndarray:
    """Bottom-centre of each box, optionally moved like a detector's box (``jitter`` is
    the standard deviation as a fraction of the box height)."""
    rng = np.random.default_rng(seed)
    out = []
    for b in boxes:
        x1, y1, x2, y2 = b.xyxy
        h = y2 - y1
        dx, dy = rng.normal(0.0, jitter * h, 2) if jitter > 0 else (0.0, 0.0)
        out.append(((x1 + x2) / 2 + dx, y2 + dy))
    return np.asarray(out, np.float64).reshape(-1, 2)


@dataclass(frozen=True)
class FusionScore:
    """How well overlapping views were fused into people."""

    boxes: int
    tracklets: int
    people: int
    foot_error_median_m: float
    foot_error_p95_m: float
    links: int
    link_precision: float
    link_recall: float
    idf1_fused: float
    idf1_unfused: float
    identities_fused: int
    direct: tuple[tuple[float, int, float], ...] = ()
    """(path distance threshold m, direct cross-camera links, their precision): pairs of
    views' tracklets whose median ground distance while both see them is within the
    threshold and clearly nearer than the runner-up (the stitcher's rule, one step)."""


def score_fusion(
    root: Path, jitter: float = 0.0, seed: int = 0, max_instants: int | None = None
) -> FusionScore:
    """Build per-view tracklets from the annotations, fuse them, and score the result."""
    boxes = load_boxes(root, max_instants)
    ground = _ground(root, boxes, jitter, seed)
    truth = np.array([b.ground_m for b in boxes])
    error = np.linalg.norm(ground - truth, axis=1)

    fragments, tracklet_of, person_of = _tracklets(boxes, ground)
    linked_pairs = _linked_pairs(fragments)
    cluster = _clusters(len(fragments), linked_pairs)
    correct = sum(person_of[p] == person_of[q] for p, q in linked_pairs)
    # Pairs that could be linked: the same person, different views, seen together >= 2 s.
    possible = 0
    for i, f in enumerate(fragments):
        for g in fragments[i + 1 :]:
            if (
                f.camera_id != g.camera_id
                and person_of[f.tracklet_id] == person_of[g.tracklet_id]
                and min(f.end, g.end) - max(f.start, g.start) >= 2.0
            ):
                possible += 1
    found = sum(
        person_of[p] == person_of[q]
        and fragments[p].camera_id != fragments[q].camera_id
        and min(fragments[p].end, fragments[q].end) - max(fragments[p].start, fragments[q].start)
        >= 2.0
        for p, q in linked_pairs
    )
    people = np.array([b.person for b in boxes])
    fused = np.array([cluster[int(t)] for t in tracklet_of])
    direct = tuple(
        (threshold, n, precision)
        for threshold in DIRECT_THRESHOLDS_M
        for n, precision in [_direct_links(fragments, person_of, threshold)]
    )
    return FusionScore(
        boxes=len(boxes),
        tracklets=len(fragments),
        people=len(set(people.tolist())),
        foot_error_median_m=float(np.median(error)),
        foot_error_p95_m=float(np.percentile(error, 95)),
        links=len(linked_pairs),
        link_precision=correct / len(linked_pairs) if linked_pairs else 1.0,
        link_recall=found / possible if possible else 1.0,
        idf1_fused=identity_f1(people, fused),
        idf1_unfused=identity_f1(people, tracklet_of),
        identities_fused=len(set(fused.tolist())),
        direct=direct,
    )


def _ground(root: Path, boxes: list[Box], jitter: float, seed: int) -> np.ndarray:
    """Each box's ground position through its view's fitted calibration (site metres)."""
    calibrations = {v: view_calibration(root, v) for v in range(len(VIEWS))}
    feet = foot_points(boxes, jitter, seed)
    ground = np.zeros((len(boxes), 2))
    for view, calib in calibrations.items():
        rows = [i for i, b in enumerate(boxes) if b.view == view]
        if rows:
            ground[rows] = calib.to_ground(feet[rows])
    return ground


def _tracklets(
    boxes: list[Box], ground: np.ndarray
) -> tuple[list[Fragment], np.ndarray, dict[int, int]]:
    """One tracklet per run of consecutive instants of one person in one view: the
    fragments, each box's tracklet, and each tracklet's person."""
    runs: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, b in enumerate(boxes):
        runs[(b.view, b.person)].append(i)
    tracklet_of = np.zeros(len(boxes), np.int64)
    fragments: list[Fragment] = []
    person_of: dict[int, int] = {}
    for (view, person), rows in sorted(runs.items()):
        rows.sort(key=lambda i: boxes[i].instant)
        start = 0
        for k in range(1, len(rows) + 1):
            if k == len(rows) or boxes[rows[k]].instant != boxes[rows[k - 1]].instant + 1:
                chunk = rows[start:k]
                tid = len(fragments)
                times = np.array([boxes[i].instant * STEP_S for i in chunk])
                fragments.append(Fragment(tid, f"view{view}", times, ground[chunk]))
                tracklet_of[chunk] = tid
                person_of[tid] = person
                start = k
    return fragments, tracklet_of, person_of


def _linked_pairs(fragments: list[Fragment]) -> set[tuple[int, int]]:
    """Links as the trace follows them: from every tracklet, what it reaches directly."""
    linked_pairs: set[tuple[int, int]] = set()
    by_camera_time = _candidates(fragments)
    for f in fragments:
        reached = linked_fragments([f.tracklet_id], by_camera_time[f.tracklet_id])
        for other in reached:
            if other != f.tracklet_id:
                linked_pairs.add((min(f.tracklet_id, other), max(f.tracklet_id, other)))
    return linked_pairs


def _clusters(n: int, pairs: Iterable[tuple[int, int]]) -> list[int]:
    """Union-find roots of ``n`` items joined by ``pairs``."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for first, second in pairs:
        parent[find(first)] = find(second)
    return [find(i) for i in range(n)]


def _people(fragments: list[Fragment], pairs: set[tuple[int, int]]) -> list[int]:
    """Group ids of tracklets joined along ``pairs`` as a trace joins a contact's
    tracklets (:func:`cctrace.tracing.contacts.join_people`): never two tracklets one
    view sees at the same time."""
    from datetime import UTC, datetime

    from cctrace.tracing.contacts import Span, join_people

    spans = {
        f.tracklet_id: Span(
            f.camera_id,
            datetime.fromtimestamp(f.start, UTC),
            datetime.fromtimestamp(f.end + STEP_S / 2, UTC),
        )
        for f in fragments
    }
    groups = join_people(
        [f.tracklet_id for f in fragments], [(a, b, "path") for a, b in sorted(pairs)], spans
    )
    return [groups.group_of[f.tracklet_id] for f in fragments]


DIRECT_THRESHOLDS_M = (0.3, 0.5, 0.7)


def _direct_links(
    fragments: list[Fragment], person_of: dict[int, int], threshold: float
) -> tuple[int, float]:
    """(links, precision) of one-step cross-camera links at a path-distance threshold."""
    from cctrace.tracing.stitching import overlap_links

    pairs: set[tuple[int, int]] = set()
    for f, nearby in zip(fragments, _candidates(fragments).values(), strict=True):
        for other in overlap_links(f, nearby, threshold):
            pairs.add((min(f.tracklet_id, other), max(f.tracklet_id, other)))
    correct = sum(person_of[a] == person_of[b] for a, b in pairs)
    return len(pairs), (correct / len(pairs) if pairs else 1.0)


def _candidates(fragments: list[Fragment]) -> dict[int, list[Fragment]]:
    """For each fragment, itself and the fragments it could link to (overlapping or
    within a few seconds in time): the stitcher is quadratic, so only these are given."""
    order = sorted(fragments, key=lambda f: f.start)
    out: dict[int, list[Fragment]] = {}
    for f in fragments:
        out[f.tracklet_id] = [g for g in order if g.start <= f.end + 2.0 and f.start <= g.end + 2.0]
    return out


def identity_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """IDF1 when every instance is both a true and a predicted one: the share of instances
    whose predicted identity is matched (one-to-one, maximising agreement) to their true
    identity."""
    from scipy.optimize import linear_sum_assignment

    t_ids, t_idx = np.unique(truth, return_inverse=True)
    p_ids, p_idx = np.unique(predicted, return_inverse=True)
    overlap = np.zeros((len(t_ids), len(p_ids)))
    np.add.at(overlap, (t_idx, p_idx), 1.0)
    rows, cols = linear_sum_assignment(-overlap)
    return float(overlap[rows, cols].sum() / len(truth)) if len(truth) else 1.0


CONTACT_DISTANCE_M = 2.0
CONTACT_S = 10.0
"""WILDTRACK is 200 s long: a pair within 2 m for 10 s of it counts as a contact here."""


@dataclass(frozen=True)
class ContactScore:
    """Contacts (pairs within ``distance_m`` for ``min_s`` in all) against the truth."""

    mode: str
    """``fused``: one identity per fused group, its position the mean of its views';
    ``per camera``: each view's tracklets alone, pairs only within one view (what a
    trace adds up without cross-camera fusion)."""
    true_contacts: int
    reported: int
    recall: float
    precision: float
    duration_error_median: float
    """Median |measured - true| / true seconds over the true contacts found."""


def score_contacts(
    root: Path,
    jitter: float = 0.0,
    seed: int = 0,
    max_instants: int | None = None,
    distance_m: float = CONTACT_DISTANCE_M,
    min_s: float = CONTACT_S,
) -> list[ContactScore]:
    """Contacts from fused tracks (and from per-camera tracklets) against the annotated
    ground positions. A reported contact is right when the truth reaches half of
    ``min_s`` for that pair (the rule of the ``contacts`` stage)."""
    boxes = load_boxes(root, max_instants)
    ground = _ground(root, boxes, jitter, seed)
    fragments, tracklet_of, _ = _tracklets(boxes, ground)
    cluster = _people(fragments, _linked_pairs(fragments))
    instants = np.array([b.instant for b in boxes])
    truth_pos: dict[tuple[int, int], tuple[float, float]] = {
        (b.instant, b.person): b.ground_m for b in boxes
    }
    truth = _pair_seconds(
        {(i, p): np.asarray(xy) for (i, p), xy in truth_pos.items()}, distance_m, None
    )
    true_pairs = {pair for pair, secs in truth.items() if secs >= min_s}
    out = []
    for mode in ("fused", "per camera"):
        ident = np.array([cluster[int(t)] for t in tracklet_of]) if mode == "fused" else tracklet_of
        sums: dict[tuple[int, int], list[np.ndarray]] = defaultdict(list)
        for k in range(len(boxes)):
            sums[(int(instants[k]), int(ident[k]))].append(ground[k])
        positions = {key: np.mean(v, axis=0) for key, v in sums.items()}
        view_of = None if mode == "fused" else {f.tracklet_id: f.camera_id for f in fragments}
        measured = _pair_seconds(positions, distance_m, view_of)
        votes: dict[int, Counter[int]] = defaultdict(Counter)
        for k in range(len(boxes)):
            votes[int(ident[k])][boxes[k].person] += 1
        who = {i: min(c, key=lambda p: (-c[p], p)) for i, c in votes.items()}
        reported: dict[tuple[int, int], float] = {}
        for (a, b), secs in measured.items():
            if secs < min_s or who[a] == who[b]:
                continue
            pair = (min(who[a], who[b]), max(who[a], who[b]))
            reported[pair] = max(reported.get(pair, 0.0), secs)
        correct = sum(truth.get(pair, 0.0) >= min_s / 2 for pair in reported)
        found = [pair for pair in true_pairs if pair in reported]
        errors = [abs(reported[p] - truth[p]) / truth[p] for p in found]
        out.append(
            ContactScore(
                mode=mode,
                true_contacts=len(true_pairs),
                reported=len(reported),
                recall=len(found) / len(true_pairs) if true_pairs else 1.0,
                precision=correct / len(reported) if reported else 1.0,
                duration_error_median=float(np.median(errors)) if errors else float("nan"),
            )
        )
    return out


def _pair_seconds(
    positions: dict[tuple[int, int], np.ndarray],
    distance_m: float,
    view_of: dict[int, str] | None,
) -> dict[tuple[int, int], float]:
    """Seconds each pair of identities spent within ``distance_m`` (identity pairs of one
    view only when ``view_of`` is given)."""
    by_instant: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for (instant, ident), xy in positions.items():
        by_instant[instant].append((ident, xy))
    out: dict[tuple[int, int], float] = defaultdict(float)
    for items in by_instant.values():
        ids = np.array([i for i, _ in items])
        xy = np.array([p for _, p in items]).reshape(-1, 2)
        near = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2) <= distance_m
        for a_pos, b_pos in zip(*np.nonzero(np.triu(near, 1)), strict=True):
            a, b = int(ids[a_pos]), int(ids[b_pos])
            if view_of is not None and view_of[a] != view_of[b]:
                continue
            out[(min(a, b), max(a, b))] += STEP_S
    return dict(out)
