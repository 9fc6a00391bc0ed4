"""Quality reports of dataset folders (``drama-data report``): numbers, figures, contamination, card section.

- :mod:`~drama_data.report.stats`: the numbers of one dataset (query lengths, languages, copy rate, duplicates,
  failures, labels);
- :mod:`~drama_data.report.contamination`: overlap with evaluation collections (BEIR folders);
- :mod:`~drama_data.report.figures`: PNG figures;
- :mod:`~drama_data.report.render`: the card section, the side-by-side comparison, and :func:`report_folder`.
"""
from drama_data.report.render import compare_text, report_folder

__all__ = ["report_folder", "compare_text"]
