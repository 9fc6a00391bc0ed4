"""The ``build`` stage: mined candidates (+ LLM rerankings) -> a training set in Tevatron's format.

- :mod:`~drama_data.build.stage`: the stage itself (:func:`build`; re-exported here);
- :mod:`~drama_data.build.config`: its one configuration object, :class:`BuildConfig` (rules, filters, mixing),
  read from ``build.yaml`` (:func:`load_config`; ``templates/build.yaml``) or a mapping;
- :mod:`~drama_data.build.flags`: the command line's flags -> :class:`BuildConfig`;
- :mod:`~drama_data.build.rules`: the labelling rules and their defaults per miner;
- :mod:`~drama_data.build.inputs`: the inputs opened and checked (candidates, rankings, queries);
- :mod:`~drama_data.build.labeller`: each row filtered and labelled, or removed with its reason;
- :mod:`~drama_data.build.labelling`: positives and negatives per row by its rule;
- :mod:`~drama_data.build.filters`: query checks (length, copy rate);
- :mod:`~drama_data.build.dedup`: exact and near-duplicate queries;
- :mod:`~drama_data.build.mixing`: sampling inputs to the configured ratios.
"""
from drama_data.build.config import BuildConfig, InputSpec, load_config
from drama_data.build.stage import (
           REASONS,
           REMOVED_SCHEMA,
           TRAIN_SCHEMA,
           BuildReport,
           build,
           check_inputs,
)

__all__ = ["REASONS", "REMOVED_SCHEMA", "TRAIN_SCHEMA", "BuildConfig", "BuildReport", "InputSpec", "build",
           "check_inputs", "load_config"]
