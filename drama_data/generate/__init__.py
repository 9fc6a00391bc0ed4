"""The ``generate`` stage: an LLM task over a corpus, resumable, through a request cache.

- :mod:`~drama_data.generate.config`: the stage's one config object (:class:`~drama_data.generate.config.GenerateConfig`),
  built by the CLI, the Python API (:func:`drama_data.api.run_generate`) and the recipe stages;
- :mod:`~drama_data.generate.stage`: a config turned into its task, corpus and backend, then run;
- :mod:`~drama_data.generate.runner`: the run itself (:func:`~drama_data.generate.runner.generate`);
- :mod:`~drama_data.generate.execution`: sending requests through the cache and a backend;
- :mod:`~drama_data.generate.cache`: the content-addressed request store, ``open_cache``;
- :mod:`~drama_data.generate.prompting`: Jinja2 prompt templates (moved to :mod:`drama_data.tasks.prompting`);
- :mod:`~drama_data.generate.budget`: ``--max-requests`` / ``--max-cost``;
- :mod:`~drama_data.generate.planning`: ``--dry-run`` plans, price and budget from the options;
- :mod:`~drama_data.generate.prices`: API prices per model.
"""
