"""Face-photo test clips (they live in :mod:`cctrace.evaluation.face_scene`)."""

from cctrace.evaluation.face_scene import (
    Appearance,
    Cutout,
    cutout_from_photo,
    jpeg,
    pets_background,
    render,
    textured_background,
    write_clip_site,
    write_face_video,
)

__all__ = [
    "Appearance",
    "Cutout",
    "cutout_from_photo",
    "jpeg",
    "pets_background",
    "render",
    "textured_background",
    "write_clip_site",
    "write_face_video",
]
