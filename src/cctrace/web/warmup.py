"""Warming a web process up before it takes requests.

A process's first page views used to pay for one-time work: compiling the page templates
(~0.6 s for the case page, its base and the site-plan drawing), reading and checking the
site plan's picture (~0.3 s), opening the first database connection. Every worker of
``cctrace serve --workers N`` paid it again, and concurrently: a cold worker handed a
dozen case pages at once compiled the same templates a dozen times over (Jinja and the
plan caches do not stop two threads computing the same missing entry), which is where the
seconds-long first page views after a start or restart came from.

:func:`warm_up` does that work once, in the app's lifespan startup, so a worker accepts
connections only when it is warm (uvicorn serves after the startup has finished). It is
best effort: what fails here is logged and left to the first request that needs it,
which then fails or succeeds as it would have.

Per-case work (the warped plan under a case's route) cannot be done ahead of time; the
case page builds it under :meth:`~cctrace.web.state.AppState.case_lock`, once per case.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from cctrace.plans.storage import map_background

from .pages import templates
from .state import AppState

log = logging.getLogger(__name__)

PAGE_TEMPLATE_SUFFIXES = (".html",)


@dataclass
class WarmUp:
    """What :func:`warm_up` did (for the log and tests)."""

    templates: list[str] = field(default_factory=list)
    plan: bool = False
    store: bool = False
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def compile_templates() -> list[str]:
    """Compile every template the pages can render (the web app's and the report
    templates they include) into the shared environment's cache; their names."""
    names = templates.env.list_templates(
        filter_func=lambda name: name.endswith(PAGE_TEMPLATE_SUFFIXES)
    )
    for name in names:
        templates.env.get_template(name)
    return names


def warm_up(state: AppState) -> WarmUp:
    """The one-time work of a fresh process (see the module's notes); never raises."""
    t = time.perf_counter()
    done = WarmUp()
    try:
        done.templates = compile_templates()
    except Exception as exc:  # a broken template: the pages that use it will say so
        done.problems.append(f"templates: {exc}")
    try:
        # The site plan in force: its picture read, checked and reduced once per process.
        done.plan = map_background(state.site) is not None
    except Exception as exc:
        done.problems.append(f"site plan: {exc}")
    try:
        state.store.audit.head()  # a first pooled database connection
        done.store = True
    except Exception as exc:  # the database may come back later; requests will retry
        done.problems.append(f"store: {exc}")
    done.seconds = time.perf_counter() - t
    if done.problems:
        log.warning("warm-up incomplete (%.1f s): %s", done.seconds, "; ".join(done.problems))
    else:
        log.info(
            "warm-up done in %.1f s: %d templates, site plan %s",
            done.seconds,
            len(done.templates),
            "read" if done.plan else "none",
        )
    return done
