"""The `points` subcommands, one module per job; each module defines `register(cli)`.

A command's module is imported when the command runs (`points evaluate` imports engine.commands
.evaluate and what it needs, not the ledger's, the web workbench's or the formatter's commands);
listing the commands (`points --help`, shell completion) imports them all."""
from __future__ import annotations

import importlib

# every command by the module that registers it (tests/test_cli.py checks this against every module
# of engine/commands that has a `register`)
COMMANDS = {
    "check": "check", "versions": "check", "show": "check", "schema": "check", "completion": "check",
    "evaluate": "evaluate", "explain": "explain", "diff": "diff", "status": "status", "quality": "status",
    "fmt": "authoring", "test": "authoring", "config": "config",
    "runs": "ledger", "history": "ledger", "close": "ledger", "adjust": "ledger", "verify": "ledger",
    "statement": "statement", "serve": "serve", "compile": "compile",
}
MODULES = tuple(dict.fromkeys(COMMANDS.values()))


def register_all(cli) -> None:
    """Attach every available subcommand to the `cli` group."""
    for name in MODULES:
        register_module(cli, name)


def register_command(cli, command: str) -> None:
    """Attach the subcommand `command` (and the others of its module) to `cli`; an unknown name or a
    module that is not installed attaches nothing."""
    if command in COMMANDS:
        register_module(cli, COMMANDS[command])


def register_module(cli, name: str) -> None:
    """Attach the subcommands of engine.commands.`name`, when it is available."""
    try:
        module = importlib.import_module(f"engine.commands.{name}")
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith("engine.commands."):
            return
        raise
    module.register(cli)
