"""Train the mask classifier's logistic head on synthetic masks (one command, deterministic).

    python scripts/train_mask_head.py [--data DIR] [--out FILE] [--seed N] [--variants N]
                                      [--columns SET] [--l2 X] [--mirror] [--dump FILE.npz]

The defaults write the shipped head (byte for byte); the options were used to compare
variants, and the defaults (margins + colour columns, L2 100, one view, 12 variants,
seed 20260315) were chosen by their accuracy on half A of kaggle-andrewmvd only (see
:mod:`cctrace.vision.mask`). Needs the shared reference data and the insightface
wheel's data files (``pip install --no-deps insightface==2.1``; training only, never
needed at run time); about a minute on 2 cores.

Nothing from the evaluation set (``masks/kaggle-andrewmvd``) is used. Training faces are
real, unmasked photos with permissive licences:

- ``faces/deepface`` (64 photos, MIT) and ``faces/face_recognition`` (MIT) from the
  shared reference data;
- ``t1.jpg`` and ``Tom_Hanks_54745.png`` from the ``insightface==2.1`` wheel (found with
  :mod:`importlib.metadata`, never imported; the insightface repository's code is MIT,
  its sample photos carry no licence statement of their own). Only 14 fitted numbers
  derived from them are shipped.

Every face YuNet finds is aligned to 112x112 by SFace (as ingest does). Each face gives
``--variants`` bare copies and as many masked copies: a mask polygon from the nose to
below the chin, filled with one of the four mask photos in the insightface wheel
(``mask_{white,blue,green,black}.jpg``) or a plain / pleated cloth of random colour,
shaded to the face's light, with a jittered outline. Bare and masked copies then get
the same random degradations seen on CCTV and phone photos: darkening, low resolution,
blur, noise, colour cast, JPEG, mirror, a small misalignment.

The features (:func:`cctrace.vision.mask_head.head_features`) of every copy are fitted
with an L2-regularised logistic regression (:func:`cctrace.vision.mask_head.fit_logistic`)
and written to ``src/cctrace/vision/data/mask_head.json``. Same inputs, same file:
the random generator is seeded and the fit is deterministic.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from cctrace.evaluation.metrics import default_shared_data
from cctrace.types import Image

SEED = 20260315
HEAD_PATH = Path(__file__).resolve().parents[1] / "src" / "cctrace" / "vision" / "data"
MASK_TEXTURES = ("mask_white.jpg", "mask_blue.jpg", "mask_green.jpg", "mask_black.jpg")
# SFace's 112x112 reference points: eyes, nose tip, mouth corners
NOSE_Y, MOUTH_Y = 71.7, 92.3

logger = logging.getLogger("train_mask_head")


def insightface_file(name: str) -> Path:
    """An image inside the installed ``insightface`` wheel (not imported)."""
    from cctrace.evaluation.faces import insightface_file as wheel_file

    try:
        return wheel_file(f"data/images/{name}")
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from exc


def source_photos(data: Path) -> list[Path]:
    """Training photos: shared faces plus the insightface sample images."""
    photos: list[Path] = []
    for folder in (data / "faces" / "deepface", data / "faces" / "face_recognition"):
        if not folder.is_dir():
            raise SystemExit(f"no training faces at {folder} (set CCTRACE_SHARED_DATA)")
        photos += sorted(
            p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        )
    photos += [insightface_file("t1.jpg"), insightface_file("Tom_Hanks_54745.png")]
    return photos


def aligned_faces(photos: list[Path], min_face: int = 40) -> list[Image]:
    """Every YuNet face of at least ``min_face`` px, aligned 112x112 by SFace."""
    from cctrace.vision.face import SFaceEmbedder, YuNetFaceDetector

    detector = YuNetFaceDetector(score_threshold=0.7)
    aligner = SFaceEmbedder()
    crops: list[Image] = []
    for path in photos:
        raw = cv2.imread(str(path))
        if raw is None:
            logger.warning("cannot read %s", path)
            continue
        image: Image = np.asarray(raw, np.uint8)
        if image.shape[:2] == (112, 112):  # already an aligned face (Tom_Hanks)
            crops.append(np.ascontiguousarray(image))
            continue
        for face in detector.detect(image):
            if face.width >= min_face:
                crops.append(aligner.align(image, face))
    return crops


def mask_polygon(rng: np.random.Generator) -> np.ndarray:
    """Outline of a worn mask in aligned-crop coordinates, jittered."""
    top = rng.uniform(NOSE_Y - 22, NOSE_Y - 4)
    left, right = rng.uniform(2, 20), rng.uniform(92, 110)
    cx = 56 + rng.uniform(-4, 4)
    side = rng.uniform(3, 12)
    bottom = rng.uniform(110, 124)
    pts = np.array(
        [
            (left, top + side),
            (left + 10, top + 2),
            (cx, top),
            (right - 10, top + 2),
            (right, top + side),
            (right - rng.uniform(0, 4), MOUTH_Y + 4),
            (right - 14, bottom - 6),
            (cx, bottom),
            (left + 14, bottom - 6),
            (left + rng.uniform(0, 4), MOUTH_Y + 4),
        ],
        np.float64,
    )
    angle = np.deg2rad(rng.uniform(-8, 8))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([56.0, (top + bottom) / 2])
    return np.asarray((pts - centre) @ rot.T + centre + rng.uniform(-3, 3, 2), np.float64)


def cloth(rng: np.random.Generator, textures: list[Image], size: int = 112) -> Image:
    """A mask's surface: a real mask photo or plain / pleated cloth of random colour."""
    if rng.random() < 0.5:
        tex = textures[int(rng.integers(len(textures)))]
        h, w = tex.shape[:2]
        # the central part of the photo, where the mask is
        x0, y0 = int(w * rng.uniform(0.15, 0.3)), int(h * rng.uniform(0.1, 0.25))
        x1, y1 = int(w * rng.uniform(0.7, 0.85)), int(h * rng.uniform(0.75, 0.9))
        surface = cv2.resize(tex[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
        return np.asarray(surface, np.uint8)
    kind = rng.random()
    if kind < 0.3:  # black / dark grey
        colour = rng.uniform(10, 60, 3)
    elif kind < 0.6:  # white / light
        colour = rng.uniform(190, 250, 3)
    elif kind < 0.8:  # surgical blue / green
        colour = np.array([rng.uniform(170, 230), rng.uniform(140, 200), rng.uniform(60, 140)])
        if rng.random() < 0.4:
            colour = colour[[1, 0, 2]]
    else:
        colour = rng.uniform(30, 240, 3)
    surface = np.ones((size, size, 3), np.float64) * colour
    if rng.random() < 0.5:  # pleats
        period = rng.uniform(8, 16)
        rows = np.arange(size)[:, None, None]
        surface *= 1 + 0.12 * np.sin(2 * np.pi * rows / period + rng.uniform(0, 6))
    if rng.random() < 0.3:  # a blotchy print
        noise = cv2.resize(rng.uniform(-40, 40, (8, 8, 3)), (size, size))
        surface += noise
    if rng.random() < 0.25:  # a high-contrast print: lines, dots, a logo
        ink = (255 - colour) if rng.random() < 0.7 else rng.uniform(0, 255, 3)
        for _ in range(int(rng.integers(3, 12))):
            p0 = tuple(int(v) for v in rng.integers(0, size, 2))
            if rng.random() < 0.5:
                p1 = tuple(int(v) for v in rng.integers(0, size, 2))
                cv2.line(surface, p0, p1, ink.tolist(), int(rng.integers(1, 5)))
            else:
                cv2.circle(surface, p0, int(rng.integers(2, 10)), ink.tolist(), -1)
    return np.asarray(np.clip(surface, 0, 255), np.uint8)


def put_mask(face: Image, rng: np.random.Generator, textures: list[Image]) -> Image:
    """``face`` wearing a synthetic mask, shaded like the face and softly edged."""
    h, w = face.shape[:2]
    alpha: np.ndarray = np.zeros((h, w), np.float32)
    cv2.fillPoly(alpha, [np.round(mask_polygon(rng) * 8).astype(np.int32)], 1.0, cv2.LINE_AA, 3)
    alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 1.5))[..., None]
    surface = cloth(rng, textures, w).astype(np.float32)
    # light it like the face: the face's own brightness, a side gradient, some curvature
    grey = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY).astype(np.float32)
    light = float(np.clip(np.median(grey[40:100, 25:87]) / 150.0, 0.2, 1.3))
    xs = np.linspace(-1, 1, w)[None, :, None]
    shade = light * (1 + rng.uniform(-0.25, 0.25) * xs) * (1 - 0.15 * xs**2)
    surface = np.clip(surface * shade, 0, 255)
    out = face.astype(np.float32) * (1 - alpha) + surface * alpha
    return np.asarray(np.clip(out, 0, 255), np.uint8)


def degrade(crop: Image, rng: np.random.Generator) -> Image:
    """Random CCTV / phone degradations of an aligned crop."""
    img: np.ndarray = crop.astype(np.float32)
    if rng.random() < 0.5:  # misalignment: small shift / scale / rotation
        m = cv2.getRotationMatrix2D(
            (56 + rng.uniform(-4, 4), 56 + rng.uniform(-4, 4)),
            rng.uniform(-10, 10),
            rng.uniform(0.9, 1.1),
        )
        img = cv2.warpAffine(img, m, (112, 112), borderMode=cv2.BORDER_REFLECT)
    light = rng.random()
    if light < 0.3:  # dark or dim
        img = 255 * (img / 255) ** rng.uniform(1.0, 2.2) * rng.uniform(0.25, 1.0)
    elif light < 0.6:  # backlit: a dark face before a bright, hazy background
        yy, xx = np.mgrid[0:112, 0:112].astype(np.float32)
        cx, cy = 56 + rng.uniform(-8, 8), 64 + rng.uniform(-8, 8)
        r = np.sqrt(((xx - cx) / 46) ** 2 + ((yy - cy) / 56) ** 2)
        face_w = np.clip(1.4 - r, 0, 1)[..., None]
        dark = rng.uniform(0.2, 0.6)
        img = img * (face_w * dark + (1 - face_w) * rng.uniform(0.8, 1.3))
        haze = rng.uniform(0, 0.35)
        img = img * (1 - haze) + haze * rng.uniform(150, 255)
    if rng.random() < 0.3:  # colour cast
        img = img * rng.uniform(0.75, 1.25, 3)
    if rng.random() < 0.6:  # low resolution
        small = int(rng.integers(14, 64))
        img = cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA)
        up = cv2.INTER_NEAREST if rng.random() < 0.3 else cv2.INTER_LINEAR
        img = cv2.resize(img, (112, 112), interpolation=up)
    elif rng.random() < 0.25:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.6, 1.8))
    if rng.random() < 0.3:
        img = img + rng.normal(0, rng.uniform(2, 10), img.shape)
    out = np.asarray(np.clip(img, 0, 255), np.uint8)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 85))])
        if ok:
            out = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def training_set(
    faces: list[Image], variants: int, seed: int = SEED
) -> tuple[list[Image], np.ndarray, np.ndarray]:
    """Bare and masked degraded copies of each face, their labels and source face ids."""
    rng = np.random.default_rng(seed)
    textures = [np.asarray(cv2.imread(str(insightface_file(n))), np.uint8) for n in MASK_TEXTURES]
    crops: list[Image] = []
    labels: list[int] = []
    groups: list[int] = []
    for i, face in enumerate(faces):
        for _ in range(variants):
            crops.append(degrade(face, rng))
            labels.append(0)
            groups.append(i)
            crops.append(degrade(put_mask(face, rng, textures), rng))
            labels.append(1)
            groups.append(i)
    return crops, np.asarray(labels, np.int64), np.asarray(groups, np.int64)


def main(argv: list[str] | None = None) -> int:
    """Build the synthetic set, fit the head, write it (and optionally the features)."""
    from cctrace.vision.mask_head import COLUMN_SETS, HEAD_FILE, fit_logistic, head_features

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_shared_data())
    parser.add_argument("--out", type=Path, default=HEAD_PATH / HEAD_FILE)
    parser.add_argument("--variants", type=int, default=12, help="copies per face and class")
    parser.add_argument("--l2", type=float, default=100.0, help="L2 penalty on the weights")
    parser.add_argument(
        "--columns",
        choices=("margins", "margins+colour", "all"),
        default="margins+colour",
        help="which features the head reads",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--mirror", action="store_true", help="average each crop with its mirror (twice the cost)"
    )
    parser.add_argument("--dump", type=Path, help="also save the features here (.npz)")
    parser.add_argument("--samples", type=Path, help="write a montage of training crops")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    faces = aligned_faces(source_photos(args.data))
    crops, labels, groups = training_set(faces, args.variants, args.seed)
    logger.info("%d source faces -> %d training crops", len(faces), len(crops))
    if args.samples:
        tiles = [np.hstack(crops[i : i + 12]) for i in range(0, min(len(crops), 96), 12)]
        cv2.imwrite(str(args.samples), np.vstack(tiles))
    x = head_features(crops, mirror=args.mirror)
    if args.dump:
        np.savez_compressed(args.dump, x=x, y=labels, groups=groups)
    head = fit_logistic(
        x, labels, l2=args.l2, columns=COLUMN_SETS[args.columns], mirror=args.mirror
    )
    prob = head.predict(x)
    train_acc = float(((prob >= 0.5) == (labels == 1)).mean())
    record = head.to_dict()
    record["training"] = {
        "script": "scripts/train_mask_head.py",
        "source_faces": len(faces),
        "crops": len(crops),
        "variants": args.variants,
        "l2": args.l2,
        "columns": args.columns,
        "mirror": args.mirror,
        "seed": args.seed,
        "train_accuracy": round(train_acc, 4),
        "data": "faces/deepface, faces/face_recognition, insightface==2.1 t1.jpg and "
        "Tom_Hanks_54745.png; masks synthetic (insightface mask photos, plain cloth)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    sys.stdout.write(f"{len(crops)} crops, training accuracy {train_acc:.3f}; wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
