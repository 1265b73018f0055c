"""Jinja2 templates for the server-rendered pages (the report's site-plan SVG included)."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader

from cctrace.report import formatting

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.loader = ChoiceLoader(
    [
        FileSystemLoader(str(Path(__file__).parent / "templates")),
        PackageLoader("cctrace.report", "templates"),
    ]
)
templates.env.filters["f1"] = lambda v: f"{float(v):.1f}"
templates.env.filters["utc"] = lambda dt: formatting.human_utc(dt) if dt else "—"
templates.env.filters["clock"] = lambda dt: formatting.clock(dt) if dt else "—"
templates.env.filters["duration"] = formatting.duration
templates.env.filters["metres"] = formatting.metres
templates.env.filters["mask"] = lambda status: formatting.mask_label(status)
templates.env.globals["app_name"] = "cctrace"
