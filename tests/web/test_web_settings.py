"""``WebSettings`` from ``$CCTRACE_*``: defaults, parsing, and one clear line per bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from cctrace.env import env_name
from cctrace.errors import ConfigError
from cctrace.web.serving import settings_from_env, settings_to_env
from cctrace.web.settings import ENV_FIELDS, SECRET_ENV, WebSettings

KEY = "tH9vQ2mXr7Lp0sKd3WfZb8NcYe1GuJa5RiOo6Vq4"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment for the settings variables, with a usable secret key."""
    for field in ENV_FIELDS:
        monkeypatch.delenv(env_name(field), raising=False)
    monkeypatch.setenv(SECRET_ENV, KEY)
    return monkeypatch


def test_defaults_are_the_documented_ones(env: pytest.MonkeyPatch) -> None:
    s = WebSettings.from_env()
    assert s.secret_key == KEY
    assert (s.session_hours, s.cookie_secure, s.max_upload_mb) == (8.0, True, 10.0)
    assert (s.max_photos, s.login_attempts, s.login_window_s, s.trace_workers) == (5, 5, 900.0, 1)
    assert s.trusted_proxies == () and s.demo is False
    assert s.uvicorn_options() == {"proxy_headers": False, "forwarded_allow_ips": ""}
    assert s.max_upload_bytes == 10 * 1024 * 1024


def test_numbers_are_read(env: pytest.MonkeyPatch) -> None:
    env.setenv("CCTRACE_SESSION_HOURS", "0.5")
    env.setenv("CCTRACE_MAX_UPLOAD_MB", "20")
    s = WebSettings.from_env()
    assert (s.session_hours, s.max_upload_mb) == (0.5, 20.0)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("0", False),
        ("1", True),
        ("true", True),
        ("false", False),
        ("True", True),
        ("FALSE", False),
        ("yes", True),
        ("no", False),
        ("on", True),
        ("off", False),
        ("", True),  # empty: unset, the default
    ],
)
def test_cookie_secure_takes_the_usual_booleans(
    env: pytest.MonkeyPatch, raw: str, value: bool
) -> None:
    env.setenv("CCTRACE_COOKIE_SECURE", raw)
    assert WebSettings.from_env().cookie_secure is value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("", ()),
        ("10.0.0.1", ("10.0.0.1",)),
        ("10.0.0.1,10.0.0.2", ("10.0.0.1", "10.0.0.2")),
        (" 10.0.0.1 , ::1 ,", ("10.0.0.1", "::1")),
        ("127.0.0.1,,192.168.1.5", ("127.0.0.1", "192.168.1.5")),
    ],
)
def test_trusted_proxies_are_a_comma_list(
    env: pytest.MonkeyPatch, raw: str, value: tuple[str, ...]
) -> None:
    env.setenv("CCTRACE_TRUSTED_PROXIES", raw)
    s = WebSettings.from_env()
    assert s.trusted_proxies == value
    if value:
        assert s.uvicorn_options() == {
            "proxy_headers": True,
            "forwarded_allow_ips": ",".join(value),
        }


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("CCTRACE_SESSION_HOURS", "abc", "valid number"),
        ("CCTRACE_SESSION_HOURS", "0", "greater than or equal to 0.05"),
        ("CCTRACE_SESSION_HOURS", "25", "less than or equal to 24"),
        ("CCTRACE_SESSION_HOURS", "nan", "valid number|less than|greater than"),
        ("CCTRACE_MAX_UPLOAD_MB", "50", "less than or equal to 20"),
        ("CCTRACE_MAX_UPLOAD_MB", "10MB", "valid number"),
        ("CCTRACE_COOKIE_SECURE", "maybe", "valid boolean"),
        ("CCTRACE_COOKIE_SECURE", "2", "valid boolean"),
        ("CCTRACE_TRUSTED_PROXIES", "10.0.0.1, proxy.local", "'proxy.local' is not an IP"),
        ("CCTRACE_TRUSTED_PROXIES", "10.0.0.0/8", "is not an IP address"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    env: pytest.MonkeyPatch, name: str, raw: str, says: str
) -> None:
    env.setenv(name, raw)
    demo_reads_it = name != "CCTRACE_COOKIE_SECURE"  # the demo always allows plain HTTP
    for build in (WebSettings.from_env, WebSettings.for_demo)[: 1 + demo_reads_it]:
        with pytest.raises(ConfigError) as caught:
            build()
        message = str(caught.value)
        assert message.startswith(f"${name}: ") and "\n" not in message
        assert f"(got {raw!r})" in message
        assert caught.match(says)


def test_every_bad_variable_is_named_at_once(env: pytest.MonkeyPatch) -> None:
    env.setenv("CCTRACE_SESSION_HOURS", "abc")
    env.setenv("CCTRACE_COOKIE_SECURE", "maybe")
    with pytest.raises(ConfigError) as caught:
        WebSettings.from_env()
    assert "$CCTRACE_SESSION_HOURS" in str(caught.value)
    assert "$CCTRACE_COOKIE_SECURE" in str(caught.value)


def test_only_the_documented_variables_are_read(env: pytest.MonkeyPatch) -> None:
    env.setenv("CCTRACE_DEMO", "1")
    env.setenv("CCTRACE_TRACE_WORKERS", "9")
    env.setenv("CCTRACE_MAX_PHOTOS", "99")
    s = WebSettings.from_env()
    assert (s.demo, s.trace_workers, s.max_photos) == (False, 1, 5)


def test_demo_settings_allow_plain_http_and_read_the_rest(env: pytest.MonkeyPatch) -> None:
    env.delenv(SECRET_ENV)
    env.setenv("CCTRACE_COOKIE_SECURE", "1")
    env.setenv("CCTRACE_SESSION_HOURS", "2")
    a, b = WebSettings.for_demo(), WebSettings.for_demo()
    assert a.demo and not a.cookie_secure and a.session_hours == 2.0
    assert len(a.secret_key) >= 32 and a.secret_key != b.secret_key


def test_the_secret_is_never_shown(env: pytest.MonkeyPatch) -> None:
    s = WebSettings.from_env()
    assert KEY not in repr(s) and KEY not in str(s)


def test_settings_are_frozen_and_copied_with_changes(env: pytest.MonkeyPatch) -> None:
    s = WebSettings.from_env()
    with pytest.raises(ValidationError):
        s.session_hours = 1.0  # type: ignore[misc]
    t = s.model_copy(update={"trace_workers": 3})
    assert (t.trace_workers, s.trace_workers, t.secret_key) == (3, 1, KEY)


def test_code_given_values_win_and_bad_ones_name_the_field(env: pytest.MonkeyPatch) -> None:
    env.setenv("CCTRACE_SESSION_HOURS", "3")
    assert WebSettings(secret_key=KEY, session_hours=1.0).session_hours == 1.0
    assert WebSettings(secret_key=KEY).session_hours == 3.0
    with pytest.raises(ConfigError, match=r"^max_photos: input should be greater"):
        WebSettings.checked(secret_key=KEY, max_photos=0)


def test_workers_get_the_parents_values_not_their_environment(env: pytest.MonkeyPatch) -> None:
    parent = WebSettings.checked(secret_key=KEY, trusted_proxies=("10.0.0.1",), trace_workers=2)
    env.setenv("CCTRACE_WORKER_SETTINGS", settings_to_env(parent))
    env.setenv("CCTRACE_SESSION_HOURS", "abc")  # a worker's own environment is not read
    assert settings_from_env() == parent


def test_cctrace_serve_with_a_bad_variable_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCTRACE_")}
    env |= {SECRET_ENV: KEY, "CCTRACE_SESSION_HOURS": "abc"}
    done = subprocess.run(
        [sys.executable, "-m", "cctrace.cli", "serve", "--site", str(tmp_path / "site.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "$CCTRACE_SESSION_HOURS" in lines[0] and "'abc'" in lines[0]
