"""The ``--lang`` option of the commands that write reports (``trace``, ``export``)."""

from __future__ import annotations

from typing import Annotated

import typer

from cctrace.i18n import LANG_ENV, LANGUAGES, check_language, default_language, set_language


def _choose(value: str | None) -> str:
    """Validate ``--lang`` and make it the language of this command's reports."""
    try:
        lang = check_language(value) if value else default_language()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    set_language(lang)
    return lang


LangOption = Annotated[
    str | None,
    typer.Option(
        "--lang",
        help=(
            f"Language of the HTML/PDF report and CSV person labels: {' or '.join(LANGUAGES)} "
            f"(default: ${LANG_ENV} or en)."
        ),
        callback=_choose,
        show_default=False,
    ),
]
