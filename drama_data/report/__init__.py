"""Quality reports of dataset folders (``drama-data report``): numbers, figures, contamination, card section.

- :mod:`~drama_data.report.stats`: the numbers of one dataset (query lengths, languages, copy rate, duplicates,
  failures, labels), read a batch at a time (:mod:`~drama_data.report.batches`) into counts
  (:mod:`~drama_data.report.counts`); the per-row checks judge a bounded sample (:mod:`~drama_data.report.sampling`,
  :mod:`~drama_data.report.duplicates`), so memory does not grow with the rows;
- :mod:`~drama_data.report.contamination`: overlap with evaluation collections (BEIR folders), streamed;
- :mod:`~drama_data.report.figures`: PNG figures;
- :mod:`~drama_data.report.render`: the card section, the side-by-side comparison, and :func:`report_folder`.
"""
from drama_data.report.render import compare_text, report_folder

__all__ = ["report_folder", "compare_text"]
