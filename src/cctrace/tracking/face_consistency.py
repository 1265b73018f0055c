"""Do a tracklet's faces show one person? Drop the faces that disagree.

A tracker can swap people (two people cross, one is hidden) and a face can be
attributed to the wrong box; either way a tracklet ends up with faces of two
people, and a face search would then find one person under the other's track.
:func:`consistent_faces` keeps the faces that agree with the tracklet's majority
face (SFace cosine at least :data:`SAME_PERSON_COSINE`, OpenCV's published
same-person threshold) and drops the rest; with no clear majority (two faces that
disagree, or an even split) no face is kept, since nothing says which one is the
tracked person's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
