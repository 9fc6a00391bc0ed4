"""DRAMA data: LLM-driven augmentation of retrieval training data, published as Hugging Face datasets."""

__version__ = "0.1.0"
