"""`points serve`: the web workbench (engine/web/) on this machine or, with authentication, a network."""
from __future__ import annotations

from pathlib import Path

import click

from engine.cli import OK, Failure

EXAMPLES = """
\b
Examples:
  points serve rulesets/o2-business --data examples/contracts.csv --legacy examples/legacy.csv
  points serve rulesets/o2-business --ledger out/demo.ledger
  POINTS_SERVE_TOKEN=... POINTS_SERVE_EDITOR_TOKEN=... points serve rulesets/o2-business --host 0.0.0.0
\b
It binds to 127.0.0.1 unless told otherwise; another address needs authentication (serve.token,
serve.editor_token or serve.users in points.toml, or POINTS_SERVE_TOKEN / POINTS_SERVE_EDITOR_TOKEN /
POINTS_SERVE_USERS). docs/workbench.md describes the pages and the roles.
"""


@click.command(epilog=EXAMPLES)
@click.argument("program", type=click.Path(), required=False)
@click.option("--data", multiple=True, type=click.Path(), metavar="FILE",
              help="The contract export the dispute and impact pages score (repeatable).")
@click.option("--legacy", type=click.Path(), help="Legacy statuses (CSV partner_id,status) for the status chain.")
@click.option("--ledger", "ledger_url", metavar="URL", help="The run ledger (a SQLite file or postgresql://...).")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="The port.")
@click.option("--read-only", is_flag=True, help="No editor role: nobody can edit or save versions.")
def serve(program, data, legacy, ledger_url, host, port, read_only):
    """Serve the workbench: disputes, runs, versions and the ruleset editor, in a browser."""
    config, hosts = build_config(program, data, legacy, ledger_url, host, read_only)
    try:
        import uvicorn
    except ImportError:
        raise Failure("points serve needs the web extra: pip install 'partner-points[web]'") from None
    from engine.web.app import create_app

    app = create_app(config, hosts)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"workbench for {config.program} on http://{shown}:{port}/ "
               f"({'sign-in required' if config.credentials.configured else 'this machine only, no sign-in'}); "
               "Ctrl-C stops it", err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
    except OSError as err:
        raise Failure(f"--host {host} --port {port}: cannot listen: {err.strerror or err}") from None
    return OK


def build_config(program, data, legacy, ledger_url, host, read_only):
    """The WebConfig of `points serve` and the Host names it answers; Failure for a setting that
    cannot be used (a program that does not load, another address without authentication)."""
    from pathlib import Path

    from engine.commands.common import settings
    from engine.project import ProjectError
    from engine.web.config import ConfigError, Credentials, WebConfig, is_loopback, parse_users

    try:
        project, values = settings()
    except ProjectError as err:
        raise Failure(str(err)) from None
    program = program or values["program"].value
    if not program:
        raise click.UsageError("give PROGRAM (or program = ... in points.toml, or POINTS_PROGRAM)")
    path = Path(program)
    if not path.exists():
        raise Failure(f"{program}: no such folder or file")
    from engine.cli import load

    load(str(path))  # the program must load now: its findings are printed with file and line
    for f in (*data, *([legacy] if legacy else [])):
        if not Path(f).is_file():
            raise Failure(f"{f}: no such file")
    users_value = values["serve.users"]
    try:
        users = parse_users([u.strip() for u in users_value.value.split(",") if u.strip()],
                            users_value.origin) if users_value.value else {}
    except ConfigError as err:
        raise Failure(str(err)) from None
    creds = Credentials(values["serve.token"].value, values["serve.editor_token"].value, users)
    if not is_loopback(host) and not creds.configured:
        raise Failure(f"--host {host}: another address than this machine's needs authentication: set "
                      "POINTS_SERVE_TOKEN (read-only), POINTS_SERVE_EDITOR_TOKEN or POINTS_SERVE_USERS "
                      "(or serve.token / serve.editor_token / serve.users in points.toml)")
    ledger = ledger_url or (values["ledger"].value if "ledger" in values else None)
    if ledger:
        _check_ledger(ledger)
    config = WebConfig(program=path, data=tuple(Path(f) for f in data), legacy=Path(legacy) if legacy else None,
                       ledger=ledger, credentials=creds, read_only=read_only)
    hosts = ["127.0.0.1", "localhost", "::1", "[::1]"]
    if not is_loopback(host):
        hosts = ["*"]  # reachable by any name on that address; authentication guards it
    return config, hosts


def _check_ledger(url: str) -> None:
    """The ledger must open now (a SQLite file must exist: the workbench never creates one)."""
    try:
        from engine.ledger import LedgerError, open_ledger, parse_url
    except ImportError:
        raise Failure("--ledger: this engine has no ledger") from None
    try:
        dialect, target = parse_url(url)
        if dialect == "sqlite" and not Path(target).is_file():
            raise Failure(f"{target}: no such ledger file (points evaluate ... --ledger {target} records one)")
        open_ledger(url, migrate=False).close()
    except LedgerError as err:
        raise Failure(str(err)) from None


def register(cli) -> None:
    cli.add_command(serve)
