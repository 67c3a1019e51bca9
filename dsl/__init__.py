"""The ruleset language: grammar, parser, AST, diagnostics, checks, formatter."""
