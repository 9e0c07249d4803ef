"""The documents and mention metadata of a corpus index, in one SQLite file."""

# A mention's row number is its vector's id in the vector index, and a document's row number is
# the order it was added in; both only ever grow, so adding documents leaves old rows as they were.

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

SCHEMA = """
CREATE TABLE documents (
  row INTEGER PRIMARY KEY,      -- 0, 1, ... in the order documents were added
  id TEXT NOT NULL UNIQUE,
  text TEXT NOT NULL
);
CREATE TABLE mentions (
  row INTEGER PRIMARY KEY,      -- = the mention's id in the vector index
  doc INTEGER NOT NULL REFERENCES documents(row),
  start_char INTEGER NOT NULL,  -- offsets into the document's text (code points), end exclusive
  end_char INTEGER NOT NULL,
  text TEXT NOT NULL            -- = documents.text[start_char:end_char]
);
CREATE INDEX mentions_by_doc ON mentions(doc);
"""
_CHUNK = 500  # bound variables per statement (SQLite builds before 3.32 allow 999)


class ClosedOnExit:
    """For classes with a close(): `with x:` closes x at the end of the block, however it ends."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class Store(ClosedOnExit):
    """An open store file; read-only unless made by `create` or opened with writable=True."""

    def __init__(self, path: str | Path, writable: bool = False):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"document store not found: {path}")
        uri = f"{path.resolve().as_uri()}?mode={'rw' if writable else 'ro'}"
        # Any thread may use it (a server's search thread uses what the main thread opened),
        # one at a time: callers never share an open store between concurrent threads.
        self.path, self.db = path, sqlite3.connect(uri, uri=True, check_same_thread=False)

    @classmethod
    def create(cls, path: str | Path) -> Store:
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.executescript(SCHEMA)
        return cls(path, writable=True)

    def close(self) -> None:
        self.db.close()

    def counts(self) -> tuple[int, int]:
        """(documents, mentions)."""
        docs = self.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        return docs, self.db.execute("SELECT COUNT(*) FROM mentions").fetchone()[0]

    def existing_ids(self, ids: Sequence[str]) -> list[str]:
        """The ids among `ids` that the store already holds."""
        found = []
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id FROM documents WHERE id IN ({marks})"
            found += [row[0] for row in self.db.execute(query, chunk)]
        return found

    def append(
        self,
        documents: Iterable[tuple[str, str]],
        doc: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
    ) -> None:
        """Adds (id, text) documents and their mentions in one transaction; doc [M] indexes
        `documents`, start/end [M] are offsets into its text, rows in mention order."""
        documents = list(documents)
        first_doc, first_mention = self.counts()
        with self.db:  # one transaction: all rows or none
            self.db.executemany(
                "INSERT INTO documents VALUES (?, ?, ?)",
                ((first_doc + i, d, t) for i, (d, t) in enumerate(documents)),
            )
            self.db.executemany(
                "INSERT INTO mentions VALUES (?, ?, ?, ?, ?)",
                (
                    (first_mention + j, first_doc + int(d), int(s), int(e), documents[d][1][s:e])
                    for j, (d, s, e) in enumerate(zip(doc, start, end, strict=True))
                ),
            )

    def mentions(self, rows: Sequence[int]) -> dict[int, tuple[int, int, int, str]]:
        """{mention row: (document row, start, end, text)}."""
        out = {}
        for chunk in _chunks([int(r) for r in rows]):
            marks = ",".join("?" * len(chunk))
            query = (
                f"SELECT row, doc, start_char, end_char, text FROM mentions WHERE row IN ({marks})"
            )
            out.update({r[0]: r[1:] for r in self.db.execute(query, chunk)})
        return out

    def documents(self, rows: Sequence[int]) -> dict[int, tuple[str, str]]:
        """{document row: (id, text)}."""
        out = {}
        for chunk in _chunks([int(r) for r in rows]):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT row, id, text FROM documents WHERE row IN ({marks})"
            out.update({r[0]: r[1:] for r in self.db.execute(query, chunk)})
        return out


def _chunks(items: list) -> Iterable[list]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]
