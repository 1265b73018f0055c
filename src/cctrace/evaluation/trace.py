"""Trace end to end on a scene whose truth is known by construction.

The scene is the demo site: PETS2009 S2L1 View_001 cut into two overlapping cameras
(``plaza-west``, ``plaza-east``), each with its own ground calibration. Ground-truth
boxes, shifted into each cut, say which person every stored tracklet is; ground-truth
world positions say who was within 2 m of whom and for how long.

For every person visible at least ``MIN_VISIBLE_S``, a trace is started from their
longest tracklet (PETS faces are too small to start from a photo). Two passes:

- **automatic**: what the trace returns before anyone reviews it. Sighting recall is
  the share of the person's tracked time (both cameras) among the returned sightings
  (accepted or "needs review"); precision is the share of returned time that is them.
  The seed is always returned, so both are also given "beyond seed" (seed excluded).
- **after review**: a reviewer who knows the truth confirms the right "needs review"
  suggestions and rejects the wrong ones, and the trace is re-run until nothing new is
  suggested (at most ``MAX_REVIEW_ROUNDS``). Sighting recall is then over the accepted
  route, and contacts are scored: a true contact is a person within 2 m of the case
  for at least ``CONTACT_S`` in ground truth; a reported close contact counts as right
  when the truth reaches half that (the same rule as the ``contacts`` stage).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cctrace.evaluation.metrics import EvalContext, Metric
from cctrace.evaluation.pets import crop_gt_boxes, gt_pair_seconds, load_gt_boxes

if TYPE_CHECKING:
    from cctrace.config import SiteConfig
    from cctrace.demo import CropSpec
    from cctrace.ingest.models import ModelSet
    from cctrace.store.repository import Store
    from cctrace.tracing.result import TraceResult
    from cctrace.tracing.service import TraceRequest

MIN_VISIBLE_S = 10.0
CONTACT_DISTANCE_M = 2.0
CONTACT_S = 5.0
MAX_REVIEW_ROUNDS = 5
UNGUARDED = {
    "sighting recall beyond seed",
    "sighting precision beyond seed",
    "contact recall reviewed",
    "contact precision reviewed",
}
"""Not checked by the regression guard: small counts (a few seconds of track, a handful
of contacts) that move by more than one sample with any change upstream. They once also
varied between identical runs, when the cut cameras were re-encoded lossily (beyond-seed
recall 0.22-0.31, contact recall 0.21-0.36, contact precision 0.43-1.0); the cuts are
lossless now and repeatable (``python bench/determinism.py``)."""
VARIES = {"sighting recall auto", "sighting recall reviewed"}
"""Guarded with one more sample of tolerance (two in all): sighting recall moved by one
sample between identical runs while the cuts were lossy (0.66-0.73)."""
TARGETS = {
    "sighting recall auto": None,
    "sighting precision auto": None,
    "sighting recall beyond seed": None,
    "sighting precision beyond seed": None,
    "sighting precision accepted beyond seed": 0.90,
    "sighting recall reviewed": 0.90,
    "contact recall reviewed": 0.90,
    "contact precision reviewed": 0.90,
}


@dataclass
class Tally:
    """Running sums for micro-averaged recall and precision."""

    hit: float = 0.0
    returned: float = 0.0
    truth: float = 0.0
    correct: float = 0.0

    def recall(self) -> float:
        return self.hit / self.truth if self.truth else float("nan")

    def precision(self) -> float:
        return self.correct / self.returned if self.returned else float("nan")


def build_scene(ctx: EvalContext) -> Path:
    """Cut the two demo cameras from the shared PETS clip and ingest them (cached)."""
    return build_cut_scene(ctx, "trace-scene")


def build_cut_scene(
    ctx: EvalContext,
    key: str,
    crops: CropSpec | None = None,
    links_yaml: dict[str, str] | None = None,
    name: str = "PETS2009 plaza demo",
) -> Path:
    """Cameras cut from the shared PETS clip (the demo's by default), ingested once per
    evaluation run under ``key`` (with the run's person detector); returns the site file."""
    from cctrace.config import load_site
    from cctrace.demo import build_demo_site
    from cctrace.ingest.runner import ingest_site

    if key in ctx.cache:
        return Path(ctx.cache[key])
    video = ctx.dataset("pets2009-s2l1", "view001.mp4")
    site_path = build_demo_site(
        ctx.workdir / key,
        video,
        crops=crops,
        links_yaml=links_yaml,
        name=name,
        models_yaml=ctx.models_yaml(),
    )
    # One worker: tracklet ids (and so every tie-break) are the same on every run.
    summary = ingest_site(load_site(site_path), workers=1, progress=False, allow_expired=True)
    bad = [f for f in summary.files if f.status != "done"]
    if bad:
        raise RuntimeError(f"{key} ingest failed: {bad}")
    ctx.cache[key] = str(site_path)
    return site_path


def review_every_suggestion(
    site: SiteConfig,
    store: Store,
    request: TraceRequest,
    models: ModelSet,
    result: TraceResult,
    own: set[int],
) -> TraceResult:
    """A reviewer who knows the truth confirms the right "needs review" sightings and
    rejects the wrong ones, re-tracing until nothing new is suggested (at most
    ``MAX_REVIEW_ROUNDS``); returns the last result."""
    from cctrace.tracing.service import trace_in_store
    from cctrace.types import SightingStatus

    for _ in range(MAX_REVIEW_ROUNDS):
        pending = [s for s in result.sightings if s.status == SightingStatus.NEEDS_REVIEW]
        if not pending:
            break
        for s in pending:
            verdict = SightingStatus.ACCEPTED if s.tracklet_id in own else SightingStatus.REJECTED
            store.sightings.decide(request.case_id, s.tracklet_id, verdict, "cctrace-eval")
        result = trace_in_store(site, store, request, models)
    return result


def evaluate(ctx: EvalContext) -> list[Metric]:
    """Sighting and contact recall/precision of traces on the two-camera PETS scene."""
    from cctrace.config import load_site
    from cctrace.demo import CROPS
    from cctrace.evaluation.pets import map_tracklets_to_gt
    from cctrace.ingest.models import ModelSet
    from cctrace.store.repository import Store
    from cctrace.tracing.service import TraceRequest, trace_in_store
    from cctrace.types import SightingStatus

    pets_dir = ctx.dataset("pets2009-s2l1")
    site = load_site(build_scene(ctx), check_files=False)
    boxes = load_gt_boxes(pets_dir)
    truth_pairs = gt_pair_seconds(pets_dir, CONTACT_DISTANCE_M)
    models = ModelSet(site.models)
    auto, beyond, reviewed, contacts = Tally(), Tally(), Tally(), Tally()
    accepted_beyond = Tally()
    with Store.for_site(site) as store:
        person_of: dict[int, int] = {}
        for cam_id, (_, x0, x1, _) in CROPS.items():
            person_of.update(map_tracklets_to_gt(store, crop_gt_boxes(boxes, x0, x1), cam_id))
        records = {r.id: r for r in store.tracklets.in_window(None, None)}
        seconds = {tid: (r.end - r.start).total_seconds() for tid, r in records.items()}
        by_person: dict[int, list[int]] = defaultdict(list)
        for tid, gid in person_of.items():
            by_person[gid].append(tid)
        run = uuid.uuid4().hex[:8]  # a re-run on the same store starts fresh cases
        people = sorted(
            g for g, tids in by_person.items() if sum(seconds[t] for t in tids) >= MIN_VISIBLE_S
        )
        for gid in people:
            own = set(by_person[gid])
            seed = max(own, key=lambda t: (seconds[t], -records[t].start.timestamp(), -t))
            case_id = f"EVAL-{run}-{gid}"
            request = TraceRequest(
                case_id=case_id,
                actor="cctrace-eval",
                tracklet_id=seed,
                distance_m=CONTACT_DISTANCE_M,
                minutes=CONTACT_S / 60,
                legal_basis="accuracy evaluation on public research footage",
            )
            store.cases.create(case_id, legal_basis=request.legal_basis, created_by="cctrace-eval")
            result = trace_in_store(site, store, request, models)
            returned = {s.tracklet_id for s in result.sightings}
            # What the machine accepted on its own, beyond the seed (suggestions for
            # review are the investigator's to decide, and counted in the auto figures).
            accepted = {
                s.tracklet_id for s in result.sightings if s.status == SightingStatus.ACCEPTED
            } - {seed}
            accepted_beyond.returned += sum(seconds[t] for t in accepted)
            accepted_beyond.correct += sum(seconds[t] for t in accepted & own)
            own_time = sum(seconds[t] for t in own)
            auto.truth += own_time
            auto.hit += sum(seconds[t] for t in returned & own)
            auto.returned += sum(seconds[t] for t in returned)
            auto.correct += sum(seconds[t] for t in returned & own)
            # The seed is always returned and is usually most of the person's time: also
            # score what the trace found beyond it.
            found_beyond = (returned & own) - {seed}
            beyond.truth += own_time - seconds[seed]
            beyond.hit += sum(seconds[t] for t in found_beyond)
            beyond.returned += sum(seconds[t] for t in returned - {seed})
            beyond.correct += sum(seconds[t] for t in found_beyond)
            result = review_every_suggestion(site, store, request, models, result, own)
            route = {s.tracklet_id for s in result.route}
            reviewed.truth += own_time
            reviewed.hit += sum(seconds[t] for t in route & own)
            true_contacts = {
                other
                for (a, b), secs in truth_pairs.items()
                if gid in (a, b) and secs >= CONTACT_S
                for other in (a, b)
                if other != gid
            }
            found: set[int | None] = set()
            for summary in result.contacts:
                if not summary.is_close_contact:
                    continue
                votes = Counter(person_of.get(t, -1) for t in summary.contact_tracklet_ids)
                # most votes, then the smaller id: the same answer on every run
                who = min(votes, key=lambda g: (-votes[g], g))
                found.add(None if who == -1 else who)
            contacts.truth += len(true_contacts)
            contacts.returned += len(found)
            for other in found:
                pair = (min(gid, other), max(gid, other)) if other is not None else None
                if pair and other != gid and truth_pairs.get(pair, 0.0) >= CONTACT_S / 2:
                    contacts.correct += 1
            for other in true_contacts:
                if other in found:
                    contacts.hit += 1
    cond = (
        f"2 cameras cut from PETS S2L1 View_001, {len(people)} people each traced from their "
        "longest tracklet; truth = their tracked time (tracklets mostly on them); tracking "
        "tuned on this clip"
    )
    review = "after a reviewer who knows the truth decides every suggestion"
    close = f"close contact = {CONTACT_S:g} s within {CONTACT_DISTANCE_M:g} m"
    values = [
        ("sighting recall auto", auto.recall(), len(people), cond + "; seed included"),
        ("sighting precision auto", auto.precision(), len(people), cond + "; seed included"),
        ("sighting recall beyond seed", beyond.recall(), len(people), cond + "; seed excluded"),
        (
            "sighting precision beyond seed",
            beyond.precision(),
            len(people),
            cond + "; seed excluded",
        ),
        (
            "sighting precision accepted beyond seed",
            accepted_beyond.precision(),
            len(people),
            cond + "; only what was accepted without review, seed excluded",
        ),
        ("sighting recall reviewed", reviewed.recall(), len(people), f"{cond}, {review}"),
        (
            "contact recall reviewed",
            contacts.recall(),
            int(contacts.truth),
            f"{cond}, {review}; {close}",
        ),
        (
            "contact precision reviewed",
            contacts.precision(),
            int(contacts.returned),
            f"{cond}, {review}; {close}",
        ),
    ]
    return [
        Metric(
            "trace",
            name,
            v,
            TARGETS[name],
            n=n,
            condition=c,
            guarded=name not in UNGUARDED,
            slack_samples=1 if name in VARIES else 0,
        )
        for name, v, n, c in values
    ]
