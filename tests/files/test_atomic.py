"""Atomic writes: a failed write leaves the old file and no temporary beside it."""

from __future__ import annotations

import stat

import numpy as np
import pytest

from ner_jax.files import atomic


def test_a_finished_write_replaces_the_file_readable_by_all(tmp_path):
    path = tmp_path / "record.json"
    path.write_text("old")
    atomic.write_text(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    atomic.save_npz(tmp_path / "arrays.npz", a=np.arange(3))
    assert np.load(tmp_path / "arrays.npz")["a"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arrays.npz", "record.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "record.json"
    path.write_text("old")

    def dies_half_way(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.write_with(path, dies_half_way)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]
