"""Directory swaps: the target is the old directory or the new one, never a mix."""

from __future__ import annotations

from ner_jax.files import dirs


def make(path, name):
    path.mkdir()
    (path / name).write_text(name)
    return path


def test_swap_in_replaces_a_directory_and_cleans_up(tmp_path):
    target = make(tmp_path / "index", "old")
    dirs.swap_in(make(tmp_path / ".index.new", "new"), target)
    assert [p.name for p in target.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["index"]
    dirs.swap_in(make(tmp_path / ".fresh", "fresh"), tmp_path / "other")  # nothing to replace
    assert (tmp_path / "other" / "fresh").is_file()


def test_swap_in_without_an_exchange_call_parks_and_removes_the_old(tmp_path, monkeypatch):
    monkeypatch.setattr(dirs, "_exchange", lambda a, b: False)  # a system without renameat2
    target = make(tmp_path / "index", "old")
    dirs.swap_in(make(tmp_path / ".index.new", "new"), target)
    assert [p.name for p in target.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["index"]
