"""The `points` subcommands, one module per job; each module defines `register(cli)`."""
from __future__ import annotations

import importlib

MODULES = ("check", "evaluate", "explain", "diff", "status", "authoring", "config", "ledger", "statement",
           "serve", "compile")


def register_all(cli) -> None:
    """Attach every available subcommand to the `cli` group."""
    for name in MODULES:
        try:
            module = importlib.import_module(f"engine.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith("engine.commands."):
                continue
            raise
        module.register(cli)
