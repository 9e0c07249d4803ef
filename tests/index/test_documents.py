"""Document readers: plain text, JSONL and CoNLL, with errors naming the file and line."""

from __future__ import annotations

import pytest
from support.tiny_index import jsonl

from ner_jax.index.documents import read_documents


def test_readers_name_the_file_and_line(tmp_path):
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match=r"empty.txt: empty file"):
        read_documents([tmp_path / "empty.txt"])
    (tmp_path / "plain.txt").write_text("\nthe castle\n\n \t\npython and rust\n")
    plain = read_documents([tmp_path / "plain.txt"])
    name = str(tmp_path / "plain.txt")
    assert [(d.id, d.text, d.spans) for d in plain] == [
        (f"{name}:2", "the castle", None),
        (f"{name}:5", "python and rust", None),
    ]
    for suffix in (".txt", ".jsonl", ".conll"):
        (tmp_path / f"bad{suffix}").write_bytes(b"fine\n\xff\xfe broken\n")
        with pytest.raises(ValueError, match=rf"bad\{suffix}:2: not UTF-8"):
            read_documents([tmp_path / f"bad{suffix}"])
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n\n{"text": oops}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:3: invalid JSON"):
        read_documents([tmp_path / "bad.jsonl"])
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "body": "no text"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: no 'text'"):
        read_documents([tmp_path / "bad.jsonl"])
    (tmp_path / "bad.jsonl").write_text('{"text": "a b", "mentions": [["zzz", "t"]]}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: mention 0 'zzz' does not occur"):
        read_documents([tmp_path / "bad.jsonl"])
    jsonl(tmp_path / "twice.jsonl", [{"id": "d", "text": "a"}, {"id": "d", "text": "b"}])
    with pytest.raises(ValueError, match="repeated: 'd'"):
        read_documents([tmp_path / "twice.jsonl"])
    (tmp_path / "gold.txt").write_text("the\tO\ncastle\tB-building\n\npython\tB-language\n")
    labelled = {"text": "the castle", "spans": [{"start": 4, "end": 10, "type": "b"}]}
    jsonl(tmp_path / "gold.jsonl", [labelled])  # the labelled JSONL format: its gold spans
    assert read_documents([tmp_path / "gold.jsonl"])[0].spans == ((4, 10),)
    gold = read_documents([tmp_path / "gold.txt"])  # sniffed as CoNLL: tags, 2 columns
    assert [(d.id[-6:], d.text, d.spans) for d in gold] == [
        (".txt:1", "the castle", ((4, 10),)),
        (".txt:4", "python", ((0, 6),)),
    ]
