"""The languages people read cctrace in: English (the source text) and Korean.

Every string a person reads on a web page or in an HTML/PDF report is a gettext
message. The catalogues live in ``cctrace/locale/<lang>/LC_MESSAGES/cctrace.po``
(compiled ``.mo`` files beside them, committed and checked by a test against the
``.po``). The language of the current request or report is a context variable:
:func:`use_language` sets it for a block, and :func:`gettext` / :func:`ngettext`
(also installed into the Jinja environments with ``jinja2.ext.i18n``) read it, so
formatting helpers need no ``lang`` argument. Strings defined at import time are
marked with :func:`N_` and translated where they are used.

Maintenance (needs Babel, a dependency)::

    python -m cctrace.i18n extract   # templates + Python -> cctrace.pot, merged into each .po
    python -m cctrace.i18n compile   # .po -> .mo (run after editing a .po; a test checks)
    python -m cctrace.i18n check     # every Korean message translated (exit 1 if not)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gettext as _gettext
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

DOMAIN = "cctrace"
LANGUAGES = ("en", "ko")
"""Supported languages; English is the source text of every message."""
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "ko": "한국어"}
"""Each language's name in itself (for the language switch)."""
LOCALE_DIR = Path(__file__).parent / "locale"
LANG_ENV = "CCTRACE_LANG"

_current: ContextVar[str] = ContextVar("cctrace_language", default=DEFAULT_LANGUAGE)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (translate where used)."""
    return message


def normalize(lang: str | None) -> str | None:
    """``ko`` for ``ko``, ``ko-KR``, ``ko_KR.UTF-8``; None when not supported."""
    if not lang:
        return None
    primary = lang.strip().replace("_", "-").split(".")[0].split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def check_language(lang: str) -> str:
    """``lang`` normalised, or ``ValueError`` naming the supported ones."""
    found = normalize(lang)
    if found is None:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}")
    return found


def default_language() -> str:
    """``$CCTRACE_LANG`` when it names a supported language, else English."""
    return normalize(os.environ.get(LANG_ENV)) or DEFAULT_LANGUAGE


def negotiate(accept_language: str | None) -> str | None:
    """The supported language an ``Accept-Language`` header prefers most, or None.

    ``ko-KR,ko;q=0.9,en-US;q=0.8`` -> ``ko``; ``fr, en;q=0.5`` -> ``en``;
    ``fr`` -> None. A ``q=0`` entry is refused, as the header means.
    """
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = normalize(tag)
        if lang is not None and q > 0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else None


@functools.cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (English: the messages themselves)."""
    if lang == DEFAULT_LANGUAGE:
        return _gettext.NullTranslations()
    mo = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with mo.open("rb") as handle:
        return _gettext.GNUTranslations(handle)


def current_language() -> str:
    """The language of the page or report being made."""
    return _current.get()


@contextlib.contextmanager
def use_language(lang: str | None) -> Iterator[str]:
    """Translate into ``lang`` (None: keep the current one) inside the block."""
    chosen = current_language() if lang is None else check_language(lang)
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def set_language(lang: str) -> None:
    """Set the language for the rest of this context (a request's middleware)."""
    _current.set(check_language(lang))


def gettext(message: str) -> str:
    """``message`` in the current language."""
    return translations(current_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural message for ``n`` in the current language."""
    return translations(current_language()).ngettext(singular, plural, n)


_ = gettext


# --- catalogue maintenance (python -m cctrace.i18n) -------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
BABEL_CFG = REPO_ROOT / "babel.cfg"


def _po(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def extract() -> Path:
    """Extract messages from the Python sources and templates into ``cctrace.pot`` and
    merge them into every language's ``.po`` (new ones untranslated)."""
    from babel.messages.frontend import CommandLineInterface

    pot = LOCALE_DIR / f"{DOMAIN}.pot"
    cli = CommandLineInterface()
    cli.run(
        [
            "pybabel", "-q", "extract", "-F", str(BABEL_CFG), "-o", str(pot),
            "--no-location", "--sort-output", "--project", "cctrace",
            "-c", "TRANSLATORS:", str(REPO_ROOT / "src" / "cctrace"),
        ]
    )  # fmt: skip
    for lang in LANGUAGES:
        po = _po(lang)
        if not po.is_file():
            po.parent.mkdir(parents=True, exist_ok=True)
            cli.run(["pybabel", "-q", "init", "-D", DOMAIN, "-i", str(pot),
                     "-d", str(LOCALE_DIR), "-l", lang])  # fmt: skip
        else:
            cli.run(["pybabel", "-q", "update", "-D", DOMAIN, "-i", str(pot),
                     "-d", str(LOCALE_DIR), "-l", lang, "--no-fuzzy-matching",
                     "--ignore-obsolete"])  # fmt: skip
    return pot


def compile_catalogues() -> list[Path]:
    """Compile every language's ``.po`` into its ``.mo``; returns the ``.mo`` paths."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for lang in LANGUAGES:
        po = _po(lang)
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=lang, domain=DOMAIN)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as out:
            write_mo(out, catalog)
        written.append(mo)
    translations.cache_clear()
    return written


def untranslated(lang: str) -> list[str]:
    """The messages of ``lang``'s ``.po`` with an empty or fuzzy translation."""
    from babel.messages.pofile import read_po

    with _po(lang).open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def main(argv: list[str] | None = None) -> int:
    """``python -m cctrace.i18n extract|compile|check``."""
    parser = argparse.ArgumentParser(description="Maintain cctrace's message catalogues.")
    parser.add_argument("command", choices=("extract", "compile", "check"))
    args = parser.parse_args(argv)
    if args.command == "extract":
        print(f"extracted {extract()}; now translate the new messages and compile")
        return 0
    if args.command == "compile":
        for mo in compile_catalogues():
            print(f"compiled {mo}")
        return 0
    missing = [m for lang in LANGUAGES if lang != DEFAULT_LANGUAGE for m in untranslated(lang)]
    for message in missing:
        print(f"untranslated: {message!r}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
