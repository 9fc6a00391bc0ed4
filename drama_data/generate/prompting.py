"""Moved to :mod:`drama_data.tasks.prompting` (prompt templates belong to the tasks that render them); this
name stays so that ``from drama_data.generate.prompting import load_prompt`` keeps working."""
from __future__ import annotations

from drama_data.tasks.prompting import FORMS, PromptTemplate, load_prompt

__all__ = ["FORMS", "PromptTemplate", "load_prompt"]
