"""`python -m engine` runs the `points` command."""
from engine.cli import entry

entry()
