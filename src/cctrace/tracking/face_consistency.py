"""Do a tracklet's faces show one person? Drop the faces that disagree.

A tracker can swap people (two people cross, one is hidden) and a face can be
attributed to the wrong box; either way a tracklet ends up with faces of two
people, and a face search would then find one person under the other's track.
:func:`consistent_faces` keeps the faces that agree with the tracklet's majority
face (SFace cosine at least :data:`SAME_PERSON_COSINE`, OpenCV's published
same-person threshold) and drops the rest; with no clear majority (two faces that
disagree, or an even split) no face is kept, since nothing says which one is the
tracked person's.

When the faces are two people one after the other (the track swapped from one to the
other), :func:`identity_change` finds the moment between them, and the tracklet is split
there instead: each part keeps its own person's faces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from cctrace.types import FaceSample

SAME_PERSON_COSINE = 0.363
"""OpenCV's SFace same-person cosine threshold (LFW); see ``vision.face``."""


@dataclass(frozen=True)
class FaceCheck:
    """Outcome of :func:`consistent_faces`."""

    kept: tuple[FaceSample, ...]
    dropped: tuple[FaceSample, ...]
    reason: str
    """Empty when every face agreed; otherwise why faces were dropped."""


def consistent_faces(
    samples: Sequence[FaceSample], threshold: float = SAME_PERSON_COSINE
) -> FaceCheck:
    """Keep the faces that agree with the majority face of ``samples`` (best first).

    The anchor is the face that agrees (cosine >= ``threshold``) with the most
    others (the better face on a tie); it and the faces agreeing with it are kept
    when they are a strict majority, otherwise every face is dropped.
    """
    items = tuple(samples)
    n = len(items)
    if n < 2:
        return FaceCheck(items, (), "")
    emb = np.stack([np.asarray(s.embedding, np.float32).reshape(-1) for s in items])
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    emb = emb / np.maximum(norms, 1e-12)
    agree = (emb @ emb.T) >= threshold
    np.fill_diagonal(agree, True)
    if bool(agree.all()):
        return FaceCheck(items, (), "")
    counts = agree.sum(axis=1)
    anchor = int(np.argmax(counts))  # first (best quality) on a tie
    group = [i for i in range(n) if agree[anchor, i]]
    if 2 * len(group) <= n:
        return FaceCheck(
            (), items, f"{n} faces of no clear single person (cosine < {threshold:g}); all dropped"
        )
    kept = tuple(items[i] for i in group)
    dropped = tuple(items[i] for i in range(n) if i not in group)
    reason = f"{len(dropped)} of {n} faces disagree with the others (cosine < {threshold:g})"
    return FaceCheck(kept, dropped, reason)


MIN_SPLIT_FACES = 2
"""Faces needed on each side before a tracklet is split where its person changes."""


def identity_change(
    samples: Sequence[FaceSample], threshold: float = SAME_PERSON_COSINE
) -> datetime | None:
    """The moment a tracklet's faces change from one person to another, or None.

    Only an unambiguous change counts: in time order, the first faces all agree with
    each other, the rest all agree with each other, no face of one side agrees with any
    of the other, and each side has at least :data:`MIN_SPLIT_FACES`. The moment is
    halfway between the last face of the first person and the first of the second.
    """
    items = sorted(samples, key=lambda s: (s.timestamp, s.frame_index))
    n = len(items)
    if n < 2 * MIN_SPLIT_FACES:
        return None
    emb = np.stack([np.asarray(s.embedding, np.float32).reshape(-1) for s in items])
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    agree = (emb @ emb.T) >= threshold
    for k in range(MIN_SPLIT_FACES, n - MIN_SPLIT_FACES + 1):
        last, first = items[k - 1].timestamp, items[k].timestamp
        if (
            last < first
            and bool(agree[:k, :k].all())
            and bool(agree[k:, k:].all())
            and not bool(agree[:k, k:].any())
        ):
            return last + (first - last) / 2
    return None
