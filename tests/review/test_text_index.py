"""The SQLite trigram index of the text filter (migration 0004's SQL, on Python's own sqlite3):
for any text of 3 characters or more, the rows it gives include every row whose search text
contains it, so the `LIKE` that checks them finds what a scan would. The app's tests run on
PostgreSQL; this checks the SQLite side's index itself."""

from __future__ import annotations

import importlib
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from review.selectors import _phrase

fts = importlib.import_module("review.migrations.0004_scale")

texts = st.text(alphabet=st.sampled_from("ab c\"'%_*-:()^.42éÉ\u00e4😀"), max_size=30)


@pytest.fixture(scope="module")
def db():
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("CREATE VIRTUAL TABLE probe USING fts5(x, tokenize='trigram')")
    except sqlite3.OperationalError:  # pragma: no cover - a SQLite without FTS5 or trigram
        pytest.skip("this SQLite has no FTS5 trigram tokenizer (the migration skips the index)")
    connection.execute("CREATE TABLE review_example (id INTEGER PRIMARY KEY, search_text TEXT NOT NULL)")
    for sql in fts.FTS_SQL:
        connection.execute(sql)
    yield connection
    connection.close()


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(texts, min_size=1, max_size=12), q=texts)
def test_the_trigram_index_finds_every_row_that_contains_the_text(db, rows, q):
    q = q.lower()
    db.execute("DELETE FROM review_example")  # the delete trigger keeps the index in step
    db.executemany("INSERT INTO review_example (search_text) VALUES (?)", [(r.lower(),) for r in rows])
    contain = {i for (i, text) in db.execute("SELECT id, search_text FROM review_example") if q in text}
    if len(q) < 3:
        return  # no trigram: the filter is the LIKE alone
    found = {
        i
        for (i,) in db.execute(
            "SELECT rowid FROM review_example_fts WHERE review_example_fts MATCH ?", [_phrase(q)]
        )
    }
    assert contain <= found


def test_a_fixed_text_is_found_by_its_new_words_only(db):
    db.execute("DELETE FROM review_example")
    db.execute("INSERT INTO review_example (id, search_text) VALUES (7, 'the parcel is late')")
    db.execute("UPDATE review_example SET search_text = 'das paket ist unterwegs' WHERE id = 7")

    def match(q):
        return [
            i
            for (i,) in db.execute(
                "SELECT rowid FROM review_example_fts WHERE review_example_fts MATCH ?", [_phrase(q)]
            )
        ]

    assert match("paket") == [7] and match("parcel") == []
