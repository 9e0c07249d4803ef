"""torch.save files read without torch: every tensor as torch has it, and nothing but tensors."""

from __future__ import annotations

import collections
import os
import zipfile

import numpy as np
import pytest
import torch

from ner_jax.files import UnsafePickle, read_state_dict


def test_tensors_read_as_torch_saved_them(tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = collections.OrderedDict(
        weight=torch.randn(5, 3),
        transposed=base.t(),  # strided: not contiguous
        offset=base[1:, 2:],  # a view that starts inside its storage
        half=torch.randn(7).half(),
        bf16=torch.randn(2, 2).bfloat16(),
        steps=torch.tensor([1, 2, 3], dtype=torch.int64),
        scalar=torch.tensor(2.5),
    )
    torch.save(state, tmp_path / "state.pth")
    found = read_state_dict(tmp_path / "state.pth")
    assert list(found) == list(state)
    for name, tensor in state.items():
        expected = tensor.float().numpy() if name == "bf16" else tensor.numpy()
        got = found[name].astype(np.float32) if name == "bf16" else found[name]
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        np.testing.assert_array_equal(got, expected, err_msg=name)


class _Payload:
    """What an attacker puts in a .pth: unpickling calls os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"weight": torch.zeros(2), "x": _Payload(marker)}, tmp_path / "evil.pth")
    with pytest.raises(UnsafePickle, match=r"evil.pth: refused to load global (posix|os)\.system"):
        read_state_dict(tmp_path / "evil.pth")
    assert not marker.exists()
    torch.load(tmp_path / "evil.pth", weights_only=False)  # the payload is real: torch runs it
    assert marker.exists()


def test_files_that_are_not_state_dicts_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_state_dict(tmp_path / "missing.pth")
    (tmp_path / "plain.pth").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="plain.pth: not a torch.save zip"):
        read_state_dict(tmp_path / "plain.pth")
    with zipfile.ZipFile(tmp_path / "empty.pth", "w") as archive:
        archive.writestr("archive/other.txt", "")
    with pytest.raises(ValueError, match=r"empty.pth: expected one \*/data.pkl"):
        read_state_dict(tmp_path / "empty.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="list.pth: not a state dict of tensors"):
        read_state_dict(tmp_path / "list.pth")


def test_a_tensor_that_reaches_past_its_storage_is_refused(tmp_path):
    torch.save({"weight": torch.zeros(4)}, tmp_path / "state.pth")
    with zipfile.ZipFile(tmp_path / "state.pth") as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    (pickle_name,) = [n for n in entries if n.endswith("/data.pkl")]
    # The same pickle with the tensor's size 4 changed to 4096: as_strided would read past it.
    entries[pickle_name] = entries[pickle_name].replace(b"K\x04\x85", b"M\x00\x10\x85")
    with zipfile.ZipFile(tmp_path / "long.pth", "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    past = r"long.pth: tensor of size \(4096,\) reaches past its storage of 4"
    with pytest.raises(UnsafePickle, match=past):
        read_state_dict(tmp_path / "long.pth")
