"""Small shared helpers for the recnn notebooks: data, environment, evaluation, plots, IO."""

__version__ = "0.1.0"
