"""Finding untranslated text: the English words of the catalogue's messages that must
not appear in a Korean page or report (data such as camera names is removed first)."""

from __future__ import annotations

import functools
import html
import re

from babel.messages.pofile import read_po

from cctrace.i18n import LOCALE_DIR

PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}|<[^>]+>")
WORD = re.compile(r"[A-Za-z][A-Za-z'-]{4,}")
ATTRIBUTES = re.compile(
    r'\s(?:aria-label|title|alt|placeholder|data-confirm|data-prompt)="([^"]*)"'
)


@functools.cache
def korean_catalogue() -> dict[str, str]:
    """msgid -> Korean msgstr (plural messages by their singular)."""
    with (LOCALE_DIR / "ko" / "LC_MESSAGES" / "cctrace.po").open("rb") as handle:
        catalog = read_po(handle, locale="ko")
    out = {}
    for m in catalog:
        if not m.id:
            continue
        key = m.id if isinstance(m.id, str) else m.id[0]
        value = m.string if isinstance(m.string, str) else m.string[0]
        out[key] = value
    return out


@functools.cache
def english_words() -> frozenset[str]:
    """Words (5+ letters) of the English messages that Korean replaces; words the Korean
    keeps on purpose (tracklet, cctrace, command names) are not counted."""
    kept: set[str] = set()
    for ko in korean_catalogue().values():
        kept |= {w.lower() for w in WORD.findall(PLACEHOLDER.sub(" ", ko))}
    words: set[str] = set()
    for en in korean_catalogue():
        words |= {w.lower() for w in WORD.findall(PLACEHOLDER.sub(" ", en))}
    return frozenset(words - kept)


def visible_text(page: str) -> str:
    """What a person reads or hears on ``page``: text and the labelled attributes."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL)
    page = re.sub(r"<code>.*?</code>", " ", page, flags=re.DOTALL)  # commands, hashes, JSON
    attrs = " ".join(ATTRIBUTES.findall(page))
    text = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(text + " " + attrs)


def untranslated(text: str, data: tuple[str, ...] = ()) -> set[str]:
    """The catalogue's English words left in ``text`` once the ``data`` strings (names,
    ids, free text typed by users) are taken out."""
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    return {w for w in WORD.findall(text) if w.lower() in english_words()}
