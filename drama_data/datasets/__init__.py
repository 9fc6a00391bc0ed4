"""Dataset folders: what every stage reads and writes (Hugging Face ``datasets`` layout plus a card).

- :mod:`~drama_data.datasets.folder`: reading and atomically writing a folder (configs, shards, log);
- :mod:`~drama_data.datasets.card`: the folder's README.md card;
- :mod:`~drama_data.datasets.merge`: shards of one run -> one folder;
- :mod:`~drama_data.datasets.publish`: a folder -> the Hugging Face Hub.
"""
