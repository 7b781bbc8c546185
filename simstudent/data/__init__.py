"""Data stage: import student logs into Datasets, split them, build paper examples.

- ``load_dataset(path)`` - ProgSnap2 folder / Dublin CSV / native JSONL (auto-detected);
- ``simstudent.data.jsonl`` - native JSONL datasets, ``append_jsonl`` / ``read_jsonl``;
- ``simstudent.data.stats`` - the numbers behind ``simstudent data stats``;
- ``simstudent.data.splits`` - train / test_NS_OP / test_NS_NP;
- ``simstudent.data.examples`` - exp1 / exp2 examples as the seed paper defines them.
"""

from simstudent.data.errors import DataError
from simstudent.data.importers import IMPORTERS, Importer, detect_format, load_dataset

__all__ = ["DataError", "IMPORTERS", "Importer", "detect_format", "load_dataset"]
