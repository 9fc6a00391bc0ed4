"""The one exception type of the pruning package.

``PruningError`` is raised for bad input that is found *before* any expensive work starts (a target larger
than the source, a head count that does not fit, calibration text that is too short, an unsupported
architecture, ...). Its message always names the option to change. It is a
:class:`~drama_data.errors.ConfigError` (the toolkit's one error hierarchy) and still a ``ValueError``, so callers
that catch ``ValueError`` keep working; the CLI prints it as ``Error: <one line>`` (exit code 2).
"""
from __future__ import annotations

from drama_data.errors import ConfigError


class PruningError(ConfigError, ValueError):
    """Bad input for pruning / continued pretraining; the message names the option to fix."""
