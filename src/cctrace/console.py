"""Consoles for the command line: the terminal's width, or plain and unwrapped when piped."""

from __future__ import annotations

import sys

from rich.console import Console

PIPE_WIDTH = 1000
"""Output width when not printing to a terminal: nothing wrapped or cut (scripts, logs)."""


def make_console(stderr: bool = False) -> Console:
    """A console that fits the terminal, or never wraps or cuts text when piped."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH, soft_wrap=True)
