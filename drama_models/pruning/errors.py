"""The one exception type of the pruning package.

``PruningError`` is raised for bad input that is found *before* any expensive work starts (a target larger
than the source, a head count that does not fit, calibration text that is too short, an unsupported
architecture, ...). Its message always names the option to change. It subclasses ``ValueError`` so callers
that catch ``ValueError`` keep working; the CLI turns it into a ``click.UsageError``-style message.
"""
from __future__ import annotations


class PruningError(ValueError):
    """Bad input for pruning / continued pretraining; the message names the option to fix."""
