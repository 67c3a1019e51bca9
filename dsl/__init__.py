"""The ruleset language: grammar, parser, AST, diagnostics, checks, formatter."""
from .parser import parse, parse_file

__all__ = ["parse", "parse_file"]
