"""PyTorch `torch.save` zip files read into numpy without torch, through a restricted unpickler."""

from __future__ import annotations

import collections
import pickle
import zipfile
from pathlib import Path

import ml_dtypes
import numpy as np

# The storage classes a state dict's pickle names, and the numpy dtype of their bytes.
_STORAGES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class UnsafePickle(ValueError):
    """A pickle that asks for a global outside the tensor-rebuild calls a state dict needs."""


class _StorageType:
    """Stands in for `torch.FloatStorage` and its kin: only its dtype is used."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
    # `torch._utils._rebuild_tensor_v2`: a strided view of a flat storage (strides in elements).
    del requires_grad, hooks, rest
    size, stride = tuple(size), tuple(stride)
    numbers = [offset, *size, *stride]
    if not (
        isinstance(storage, np.ndarray)
        and all(isinstance(n, int) and n >= 0 for n in numbers)
        and len(size) == len(stride)
    ):
        raise UnsafePickle(f"bad tensor: offset {offset!r}, size {size!r}, stride {stride!r}")
    # as_strided trusts its arguments: a view past the storage would read foreign memory.
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if 0 not in size and last >= len(storage):
        raise UnsafePickle(f"tensor of size {size} reaches past its storage of {len(storage)}")
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    )
    return np.array(view)  # a copy: no view into the file's bytes outlives the reader


def _rebuild_parameter(tensor, requires_grad=False, hooks=None, *rest):
    del requires_grad, hooks, rest
    return tensor


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("torch", name): _StorageType(dtype) for name, dtype in _STORAGES.items()},
}


class _Unpickler(pickle.Unpickler):
    """Builds tensors as numpy arrays; refuses every other global (no code runs on load)."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, source: Path):
        super().__init__(file)
        self.archive, self.prefix, self.source = archive, prefix, source

    def find_class(self, module, name):
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise UnsafePickle(
                f"{self.source}: refused to load global {module}.{name}: a state dict of "
                "tensors needs only torch's tensor-rebuild calls, so this file is not one "
                "(or it carries code)"
            )
        return allowed

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, numel): the bytes are in PREFIX/data/KEY.
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafePickle(f"{self.source}: unknown persistent id {pid!r}")
        _, kind, key, _, numel = pid
        if not isinstance(kind, _StorageType):
            raise UnsafePickle(f"{self.source}: storage of unknown type {kind!r}")
        raw = self.archive.read(f"{self.prefix}/data/{key}")
        return np.frombuffer(raw, dtype=kind.dtype.newbyteorder("<"), count=int(numel))


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """{name: numpy array} of a `torch.save`d state dict (zip format), without torch.

    Raises UnsafePickle if the pickle asks for anything but tensors and ordered dicts, and
    ValueError naming the file if it is not a torch zip or holds something else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PyTorch file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a torch.save zip file (legacy pickles are not read)")
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(f"{path}: expected one */data.pkl in the zip, found {pickles}")
        prefix = pickles[0][: -len("/data.pkl")]
        if archive.namelist().count(f"{prefix}/byteorder") and (
            archive.read(f"{prefix}/byteorder").strip() != b"little"
        ):
            raise ValueError(f"{path}: big-endian tensors are not supported")
        with archive.open(pickles[0]) as file:
            try:
                state = _Unpickler(file, archive, prefix, path).load()
            except UnsafePickle as error:
                if str(path) in str(error):
                    raise
                raise UnsafePickle(f"{path}: {error}") from None
            except (pickle.UnpicklingError, KeyError, EOFError, TypeError, ValueError) as error:
                raise ValueError(f"{path}: not a readable torch state dict ({error})") from error
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in state.items()
    ):
        raise ValueError(f"{path}: not a state dict of tensors")
    return dict(state)
