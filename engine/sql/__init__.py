"""The columnar engine: a program's versions compiled to SQL (engine.sql.compiler) and run in
embedded DuckDB (engine.sql.duck), with the same output files as the row engine (engine.run).

Design and the reasons a run falls back to the row engine: docs/sql.md.
"""
