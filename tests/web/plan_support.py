"""A drawn floor plan for site-plan tests: rooms, walls and labels at a known scale."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

FLOOR = (236, 226, 200)
WALL = (70, 60, 50)
ROOM = (250, 246, 232)


def floor_plan(width: int = 500, height: int = 400) -> Image.Image:
    """A small clinic's floor plan: a corridor, four rooms, labels."""
    img = Image.new("RGB", (width, height), FLOOR)
    draw = ImageDraw.Draw(img)
    rooms = [
        ((20, 20, 180, 150), "Waiting room"),
        ((200, 20, 330, 150), "Clinic 1"),
        ((350, 20, 480, 150), "Clinic 2"),
        ((20, 280, 250, 380), "Pharmacy"),
        ((270, 280, 480, 380), "Entrance hall"),
    ]
    for box, label in rooms:
        draw.rectangle(box, fill=ROOM, outline=WALL, width=5)
        draw.text((box[0] + 10, box[1] + 10), label, fill=WALL)
    draw.text((200, 205), "Corridor", fill=WALL)
    return img


def png(img: Image.Image) -> bytes:
    """``img`` as PNG bytes."""
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
