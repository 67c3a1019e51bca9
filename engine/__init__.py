"""The engine: versions, compilation, evaluation, traces, tiers, quality, diff."""

__version__ = "0.1.0"
