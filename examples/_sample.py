"""Where the bundled SciFact sample lives (50 abstracts, 20 test claims with qrels), for every example."""
from pathlib import Path

import drama_data

SAMPLE = str(Path(drama_data.__file__).parent / "samples" / "scifact-sample")
