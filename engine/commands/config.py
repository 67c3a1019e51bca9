"""`points config`: the effective settings and where each comes from."""
from __future__ import annotations

import click

from engine.cli import OK, emit_json
from engine.commands.common import json_option, out_console, settings

EXAMPLES = """
\b
Examples:
  points config
  POINTS_DECIMAL_COMMA=1 points config --json
\b
Each setting comes from the command line, else the environment (POINTS_...), else the project
file points.toml (found upward from the working directory, up to a repository's root), else the
built-in default. docs/data.md, "The project file", lists every setting.
"""


@click.command(epilog=EXAMPLES)
@json_option
def config(as_json):
    """Print the effective settings: value, source and the variable and flag that set them."""
    from engine.project import SETTINGS, shown_value

    project, values = settings()
    if as_json:
        emit_json({"project": str(project.path) if project.path else None, "sha256": project.sha256,
                   "settings": {s.key: {"value": _secret(v.value) if s.kind == "secret" else
                                        list(v.value) if isinstance(v.value, tuple) else v.value,
                                        "source": v.source, "from": v.origin}
                                for s in SETTINGS for v in [values[s.key]]}})
        return OK
    from rich.table import Table

    from engine.terminal import markup, text

    console = out_console()
    if project.path is not None:
        console.print(f"project file: {markup(str(project.path))} (sha256 {project.sha256[:12]}…)")
    else:
        console.print(f"project file: none (no {markup('points.toml')} from {markup(str(project.searched_from))} "
                      "up to the repository or file system root)")
    t = Table(title="Settings", title_justify="left")
    for column in ("setting", "value", "source", "environment", "flag"):
        t.add_column(column)
    for s in SETTINGS:
        v = values[s.key]
        origin = v.source if v.source in ("default", "flag", "environment") else f"{v.origin}"
        shown = _secret(v.value) or "(none)" if s.kind == "secret" else shown_value(v.value)
        t.add_row(text(s.key), text(shown), text(origin), text(s.env), text(s.flag))
    console.print(t)
    return OK


def _secret(value) -> str | None:
    """A secret setting as `config` shows it: only whether it is set."""
    return None if value is None else "(set)"


def register(cli) -> None:
    cli.add_command(config)
