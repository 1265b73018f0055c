"""The command line's ``$CCTRACE_*`` variables (``cctrace.env``) and the FAISS thread count."""

from __future__ import annotations

import pytest

from cctrace.env import CliSettings
from cctrace.errors import ConfigError
from cctrace.store.sharded_index import THREADS_ENV, faiss_threads


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("CCTRACE_ACTOR", "CCTRACE_NO_PROGRESS", THREADS_ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(env: pytest.MonkeyPatch) -> None:
    s = CliSettings.load()
    assert (s.actor, s.no_progress) == (None, False)
    assert faiss_threads() == 1


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1", True), ("0", False), ("true", True), ("false", False), ("yes", True), ("", False)],
)
def test_no_progress_is_a_boolean(env: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    env.setenv("CCTRACE_NO_PROGRESS", raw)
    assert CliSettings.load().no_progress is value


def test_actor_is_read_and_empty_is_unset(env: pytest.MonkeyPatch) -> None:
    env.setenv("CCTRACE_ACTOR", "ana")
    assert CliSettings.load().actor == "ana"
    env.setenv("CCTRACE_ACTOR", "")
    assert CliSettings.load().actor is None


def test_a_bad_boolean_names_the_variable(env: pytest.MonkeyPatch) -> None:
    env.setenv("CCTRACE_NO_PROGRESS", "please")
    with pytest.raises(ConfigError) as caught:
        CliSettings.load()
    assert str(caught.value) == (
        "$CCTRACE_NO_PROGRESS: input should be a valid boolean, unable to interpret input "
        "(got 'please')"
    )


@pytest.mark.parametrize(("raw", "ok"), [("4", True), (" 2 ", True), ("0", False), ("two", False)])
def test_faiss_threads(env: pytest.MonkeyPatch, raw: str, ok: bool) -> None:
    env.setenv(THREADS_ENV, raw)
    if ok:
        assert faiss_threads() == int(raw)
    else:
        with pytest.raises(ConfigError, match=rf"^\${THREADS_ENV}: .*\(got '{raw}'\)"):
            faiss_threads()
