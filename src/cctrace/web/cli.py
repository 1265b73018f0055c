"""``cctrace serve`` and ``cctrace users``: run the web app, manage who signs in."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from cctrace.cli_json import JsonOption, print_json
from cctrace.console import make_console
from cctrace.errors import ConfigError

log = logging.getLogger(__name__)
console = make_console()
users_app = typer.Typer(help="Add and change web app users.", no_args_is_help=True)

DEMO_USERS = {
    "investigator": ("investigator", "default"),
    "supervisor": ("supervisor", "default"),
    "auditor": ("auditor", "default"),
    "admin": ("admin", "default"),
}
"""Demo accounts (user name -> role, team). The demo case belongs to ``investigator``."""
DEMO_USERS_FILE = "demo-users.txt"
PASSWORD_ENV = "CCTRACE_NEW_PASSWORD"


def ensure_demo_users(site_data_dir: Path, workdir: Path, url: str | None = None) -> dict[str, str]:
    """Create the demo accounts once (in the store at ``url``, default the SQLite one in
    ``site_data_dir``); their passwords go to ``workdir/demo-users.txt`` (mode 0600).
    Returns user -> password as saved."""
    from cctrace.store.repository import Store

    from .security import hash_password

    file = workdir / DEMO_USERS_FILE
    saved: dict[str, str] = {}
    if file.is_file():
        for line in file.read_text().splitlines():
            name, _, password = line.partition(" ")
            if name and password:
                saved[name] = password
    with Store.open(site_data_dir, url=url) as store:
        existing = {u.username for u in store.users.all()}
        for name, (role, team) in DEMO_USERS.items():
            if name in existing and name in saved:
                continue
            password = saved.get(name) or secrets.token_urlsafe(12)
            if name in existing:
                store.users.set_password_hash(name, hash_password(password))
            else:
                store.users.create(name, hash_password(password), role, team)
            saved[name] = password
    file.write_text("".join(f"{n} {p}\n" for n, p in saved.items()))
    file.chmod(0o600)
    return saved


def stale_demo_message(site_data_dir: Path, workdir: Path, url: str | None = None) -> str | None:
    """Why the demo case would not show in the app (a demo built by an older cctrace,
    whose case belongs to the login name), or None."""
    from cctrace.demo import DEMO_CASE, DEMO_INVESTIGATOR
    from cctrace.errors import NotFoundError
    from cctrace.store.repository import Store

    with Store.open(site_data_dir, url=url) as store:
        try:
            owner = store.cases.get(DEMO_CASE).created_by
        except NotFoundError:
            return f"{workdir} has no case {DEMO_CASE}: run `cctrace demo --workdir {workdir}`"
    if owner == DEMO_INVESTIGATOR:
        return None
    return (
        f"case {DEMO_CASE} in {workdir} belongs to {owner!r} (built by an older cctrace), "
        f"so the demo accounts cannot open it: delete {workdir} and run "
        f"`cctrace demo --workdir {workdir}` again"
    )


def serve(
    site_file: Annotated[
        Path | None,
        typer.Option(
            "--site",
            "-s",
            help="Site YAML file (default: $CCTRACE_SITE or ./site.yaml).",
            envvar="CCTRACE_SITE",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one).")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Web worker processes sharing the store (more than 1: PostgreSQL, "
            "or SQLite in WAL mode on this host).",
        ),
    ] = 1,
    trace_workers: Annotated[
        int,
        typer.Option(
            min=0,
            max=16,
            help="Trace threads per worker process (each holds the face models; 0: this "
            "server only queues traces, another runs them).",
        ),
    ] = 1,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Try the app on the demo footage: builds it if needed (`cctrace demo`), "
            "creates demo accounts, a throwaway session key and plain-HTTP cookies.",
        ),
    ] = False,
    workdir: Annotated[Path, typer.Option(help="Demo folder (with --demo).")] = Path("demo"),
    purge: Annotated[
        bool, typer.Option("--purge/--no-purge", help="Run the retention purge on its schedule.")
    ] = True,
) -> None:
    """Start the web app and API on the site's store (open http://HOST:PORT/)."""
    from cctrace.config import load_site
    from cctrace.retention import PurgeScheduler

    from .app import create_app
    from .serving import (
        WORKER_SETTINGS_ENV,
        WORKER_SITE_ENV,
        address_of,
        check_shared_store,
        listen,
        run_server,
        settings_to_env,
    )
    from .settings import WebSettings

    if demo:
        site_path = workdir / "site.yaml"
        if not site_path.is_file():
            from cctrace.demo import run_demo

            console.print(f"no demo in {workdir}: building it first (a few minutes)")
            run_demo(workdir, console=console)
        settings = WebSettings.for_demo()
    else:
        site_path = site_file or Path("site.yaml")
        settings = WebSettings.from_env()
    settings = settings.model_copy(update={"trace_workers": trace_workers})
    site = load_site(site_path, check_files=False)
    note = check_shared_store(site, workers)
    if note:
        console.print(f"[yellow]note:[/yellow] {note}", soft_wrap=True)
    sock = listen(host, port)
    address = address_of(sock)
    if demo:
        url = site.storage.database_url
        accounts = ensure_demo_users(site.storage.data_dir, workdir, url)
        from cctrace.demo import DEMO_CASE

        console.print(f"[bold]demo accounts[/bold] (also in {workdir / DEMO_USERS_FILE}):")
        for name, password in accounts.items():
            console.print(f"  {name:13s} {password}")
        console.print(f"open [bold]{address}cases/{DEMO_CASE}[/bold] and sign in as investigator")
        problem = stale_demo_message(site.storage.data_dir, workdir, url)
        if problem:
            console.print(f"[yellow]note:[/yellow] {problem}")
    app = None
    if workers == 1:
        app = create_app(site, settings)
    else:
        # Every worker process builds the same app from these (one key, one store).
        os.environ[WORKER_SITE_ENV] = str(site_path.resolve())
        os.environ[WORKER_SETTINGS_ENV] = settings_to_env(settings)
    scheduler = PurgeScheduler(site) if purge else None
    if scheduler:
        scheduler.start()
    processes = f", {workers} worker processes" if workers > 1 else ""
    console.print(
        f"cctrace {site.name}: listening on {address}{processes} "
        f"(pid {os.getpid()}; Ctrl+C to stop)",
        soft_wrap=True,
    )
    try:
        run_server(sock, settings, app=app, workers=workers)
    finally:
        sock.close()
        if scheduler:
            scheduler.stop()


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[
        str, typer.Option(help="investigator, supervisor, auditor or admin.")
    ] = "investigator",
    team: Annotated[str, typer.Option(help="Team (supervisors see their team's cases).")] = (
        "default"
    ),
    site_file: Annotated[
        Path, typer.Option("--site", "-s", envvar="CCTRACE_SITE", help="Site YAML file.")
    ] = Path("site.yaml"),
) -> None:
    """Add a user; the password is asked for (or read from $CCTRACE_NEW_PASSWORD)."""
    _set_user(site_file, username, role=role, team=team, create=True)


@users_app.command("passwd")
def users_passwd(
    username: Annotated[str, typer.Argument(help="User name.")],
    site_file: Annotated[
        Path, typer.Option("--site", "-s", envvar="CCTRACE_SITE", help="Site YAML file.")
    ] = Path("site.yaml"),
) -> None:
    """Set a user's password (asked for, or $CCTRACE_NEW_PASSWORD)."""
    _set_user(site_file, username, create=False)


@users_app.command("list")
def users_list(
    site_file: Annotated[
        Path, typer.Option("--site", "-s", envvar="CCTRACE_SITE", help="Site YAML file.")
    ] = Path("site.yaml"),
    as_json: JsonOption = False,
) -> None:
    """List users, roles and teams."""
    from cctrace.config import load_site
    from cctrace.store.repository import Store

    with Store.for_site(load_site(site_file, check_files=False)) as store:
        users = store.users.all()
        if as_json:
            print_json(
                {
                    "users": [
                        {"username": u.username, "role": u.role, "team": u.team, "active": u.active}
                        for u in users
                    ]
                }
            )
            return
        for u in users:
            state = "" if u.active else " (deactivated)"
            console.print(f"{u.username:20s} {u.role.value:13s} team {u.team}{state}")


def _set_user(
    site_file: Path, username: str, *, role: str = "", team: str = "", create: bool
) -> None:
    import getpass

    from cctrace.config import load_site
    from cctrace.store.repository import Store

    from .security import PasswordPolicyError, check_password_policy, hash_password

    password = os.environ.get(PASSWORD_ENV) or getpass.getpass(f"password for {username}: ")
    try:
        check_password_policy(password, username)
    except PasswordPolicyError as exc:
        raise ConfigError(str(exc)) from None
    with Store.for_site(load_site(site_file, check_files=False)) as store:
        if create:
            store.users.create(username, hash_password(password), role, team)
            store.audit.append(
                "cli", "user_create", None, {"username": username, "role": role, "team": team}, {}
            )
            console.print(f"added {username} ({role}, team {team})")
        else:
            store.users.get(username)  # NotFoundError names the user
            store.users.set_password_hash(username, hash_password(password), end_sessions=True)
            store.audit.append(
                "cli", "user_update", None, {"username": username, "password": "reset"}, {}
            )
            console.print(f"password of {username} changed")
