"""The face search as a ``face_recognition`` user writes it; run by bench/vs_face_recognition.py.

Runs in the throwaway venv that holds ``face_recognition`` (dlib HOG + ResNet) and
OpenCV, never in cctrace's: it imports nothing from cctrace. Every network connection
is refused before ``face_recognition`` is imported, so the run proves the library works
offline once installed.

    python face_recognition_worker.py CLIP QUERY_PHOTO OUT_JSON [--tolerance 0.6]

The job, as the library's README shows it, with frames read the way its
``examples/facerec_from_video_file.py`` reads them (OpenCV, BGR to RGB): encode the query
photo (``face_encodings`` of ``load_image_file``), then for every frame of the clip find
faces with ``face_locations`` (HOG, one upsample: the defaults), encode them, and call
the person found in a frame where ``compare_faces`` at the library's default tolerance
(0.6) says so. Writes one JSON with the frames
read, the frames the person was found in and each frame's face count and best distance.
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from pathlib import Path
from typing import Any


def refuse_network() -> None:
    """Make every socket connection fail: the library must work without the network."""

    def _refuse(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("network access refused by the benchmark (offline check)")

    socket.socket.connect = _refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse  # type: ignore[method-assign,assignment]
    socket.create_connection = _refuse  # type: ignore[assignment]


def main() -> None:
    """Search the clip for the query photo's face; write the result JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("photo", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.6)
    args = parser.parse_args()
    refuse_network()
    t0 = time.perf_counter()

    import cv2
    import face_recognition
    import numpy as np

    query = face_recognition.face_encodings(face_recognition.load_image_file(str(args.photo)))
    if not query:
        raise SystemExit(f"{args.photo}: face_recognition finds no face")
    known = query[0]
    t_query = time.perf_counter()

    capture = cv2.VideoCapture(str(args.clip))
    fps = capture.get(cv2.CAP_PROP_FPS)
    faces: list[int] = []
    best: list[float | None] = []
    found: list[int] = []
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        locations = face_recognition.face_locations(rgb)
        encodings = face_recognition.face_encodings(rgb, locations)
        faces.append(len(encodings))
        if encodings:
            distances = face_recognition.face_distance(encodings, known)
            best.append(round(float(distances.min()), 4))
            if any(face_recognition.compare_faces(encodings, known, args.tolerance)):
                found.append(index)
        else:
            best.append(None)
        index += 1
    capture.release()
    args.out.write_text(
        json.dumps(
            {
                "fps": fps,
                "frames": index,
                "found_frames": found,
                "faces_per_frame": faces,
                "best_distance": best,
                "tolerance": args.tolerance,
                "query_s": t_query - t0,
                "search_s": time.perf_counter() - t_query,
            }
        )
    )


if __name__ == "__main__":
    main()
