"""Box overlap: intersection over union and greedy one-to-one matching (xyxy pixels)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(N, M) IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4)."""
    pa = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    pb = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(pa[:, None, :2], pb[None, :, :2])
    rb = np.minimum(pa[:, None, 2:], pb[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(pa[:, 2:] - pa[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(pb[:, 2:] - pb[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """IoU of two boxes (0 when both are empty)."""
    return float(iou_matrix(a, b)[0, 0])


def count_greedy_matches(pred: npt.ArrayLike, gt: npt.ArrayLike, threshold: float = 0.5) -> int:
    """Greedy one-to-one matches at IoU >= ``threshold`` (best pair first)."""
    iou = iou_matrix(pred, gt)
    count = 0
    while iou.size and iou.max() >= threshold:
        i, j = np.unravel_index(int(np.argmax(iou)), iou.shape)
        iou[i, :] = -1
        iou[:, j] = -1
        count += 1
    return count
