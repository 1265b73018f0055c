"""The message catalogues: Korean complete, compiled catalogues up to date, placeholders
kept; language negotiation and the CLI's --lang."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from cctrace import i18n
from tests.i18n_words import korean_catalogue

PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")
SRC = Path(i18n.__file__).parent


def _po(lang: str):  # type: ignore[no-untyped-def]
    with (i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "cctrace.po").open("rb") as handle:
        return read_po(handle, locale=lang)


def test_every_korean_message_is_translated() -> None:
    assert i18n.untranslated("ko") == []
    assert len(korean_catalogue()) > 300


def test_translations_keep_every_placeholder() -> None:
    for en, ko in korean_catalogue().items():
        assert sorted(PLACEHOLDER.findall(en)) == sorted(PLACEHOLDER.findall(ko)), en


def _key(value: str | list[str] | tuple[str, ...]) -> str | tuple[str, ...]:
    return value if isinstance(value, str) else tuple(value)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_compiled_catalogues_match_the_po(lang: str) -> None:
    """The committed .mo files are the .po compiled (run `python -m cctrace.i18n compile`)."""
    po = {_key(m.id): _key(m.string) for m in _po(lang) if m.id}
    mo_path = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "cctrace.mo"
    with mo_path.open("rb") as handle:
        mo = {_key(m.id): _key(m.string) for m in read_mo(handle) if m.id}
    stale = "the .mo is stale: run `python -m cctrace.i18n compile`"
    assert set(mo) <= set(po), stale
    for key, value in po.items():
        if value if isinstance(value, str) else all(value):
            assert mo.get(key) == value, stale
        else:  # untranslated: gettext falls back to the English message
            assert mo.get(key) in (None, key), stale


def test_catalogues_hold_every_message_in_the_sources() -> None:
    """Every gettext message in the code and templates is in the catalogue (run
    `python -m cctrace.i18n extract` after adding one), and none is stale."""
    method_map = [("**.py", "python"), ("**/templates/*.html", "jinja2")]
    options = {"**/templates/*.html": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(SRC), method_map, options_map=options
    ):
        found.add(message if isinstance(message, str) else message[0])
    for lang in i18n.LANGUAGES:
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in _po(lang) if m.id}
        assert found - ids == set(), f"{lang}: not extracted yet"
        assert ids - found == set(), f"{lang}: no longer used"


def test_gettext_follows_the_current_language() -> None:
    assert i18n.gettext("Sign in") == "Sign in"
    with i18n.use_language("ko"):
        assert i18n.gettext("Sign in") == "로그인"
        assert i18n.ngettext("tracklet %(ids)s", "tracklets %(ids)s", 2) == "tracklet %(ids)s"
        with i18n.use_language("en"):
            assert i18n.gettext("Sign in") == "Sign in"
        assert i18n.current_language() == "ko"
    assert i18n.current_language() == "en"
    with pytest.raises(ValueError, match="unknown language 'fr'"), i18n.use_language("fr"):
        pass
    assert isinstance(i18n.translations("ko"), gettext.GNUTranslations)


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
        ("en-GB,en;q=0.9,ko;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,ko;q=0.4", "ko"),
        ("KO", "ko"),
        ("*", None),
        ("fr", None),
        ("ko;q=0", None),
        ("ko;q=abc, en;q=0.1", "en"),
        ("", None),
        (None, None),
    ],
)
def test_accept_language(header: str | None, lang: str | None) -> None:
    assert i18n.negotiate(header) == lang


def test_default_language_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(i18n.LANG_ENV, "ko_KR.UTF-8")
    assert i18n.default_language() == "ko"
    monkeypatch.setenv(i18n.LANG_ENV, "xx")
    assert i18n.default_language() == "en"


def test_stored_notes_are_translated_by_pattern() -> None:
    from cctrace.report.formatting import message_text

    note = "trace started from tracklet 17 picked by the user"
    assert message_text(note) == note
    with i18n.use_language("ko"):
        assert message_text(note) == "사용자가 고른 tracklet 17에서 추적을 시작함"
        assert message_text("something else") == "something else"


def test_cli_lang_option(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from cctrace.cli_lang import _choose

    token = i18n._current.set("en")
    try:
        assert _choose("ko") == "ko" and i18n.current_language() == "ko"
        monkeypatch.setenv(i18n.LANG_ENV, "ko")
        i18n.set_language("en")
        assert _choose(None) == "ko"
        with pytest.raises(typer.BadParameter, match="unknown language"):
            _choose("fr")
    finally:
        i18n._current.reset(token)
