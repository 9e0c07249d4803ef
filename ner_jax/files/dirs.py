"""Atomic replacement of a whole directory by a finished sibling one."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import uuid
from pathlib import Path

_AT_FDCWD, _RENAME_EXCHANGE = -100, 2  # <fcntl.h>, <linux/fs.h>


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2); False where the system cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    paths = os.fsencode(a), os.fsencode(b)
    if renameat2(_AT_FDCWD, paths[0], _AT_FDCWD, paths[1], _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # no such call, or the fs lacks it
        return False
    raise OSError(code, os.strerror(code), os.fspath(a))


def swap_in(new: Path, target: Path) -> None:
    """Put directory `new` at `target` (a sibling), deleting what was there.

    Readers see the old directory or the new one: an exchange where Linux offers one, else
    the old one is parked beside it for the instant between two renames."""
    if not target.exists():
        os.replace(new, target)
    elif _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old directory
    else:
        parked = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, parked)
        os.replace(new, target)
        shutil.rmtree(parked, ignore_errors=True)
