"""BEIR collections for evaluation: the reader lives at the bottom, in :mod:`drama_data.beir` (mining's
contamination check and corpus reading use it too); this module keeps ``drama_models.beir`` imports working."""
from drama_data.beir import (  # noqa: F401
    BeirCollection,
    BeirFormatError,
    corpus_file,
    detect_language,
    find_corpus_file,
    join_title,
    load_beir,
    read_corpus,
    read_qrels,
    read_queries,
)
