"""Files written whole or not at all: atomic writes (temporary name, then rename), JSON in and out,
and swapping a finished folder in place of an old one. Everything that writes to disk goes through here."""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from pathlib import Path

from mnistlab.errors import MnistlabError


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write) -> None:
    """Call `write(f)` on a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=1) + "\n")


def read_json(path: Path, make: str) -> dict:
    """The JSON object in `path`; anything else is one line naming the file and the command `make`
    that writes it again."""
    path = Path(path)
    if not path.exists():
        raise MnistlabError(f"{path} is missing; `{make}` makes it")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MnistlabError(f"{path} is corrupted ({getattr(err, 'msg', err)}); `{make}` writes it again") from None
    except (ValueError, RecursionError):  # an integer of over 4,300 digits; nesting deeper than the stack
        raise MnistlabError(f"{path} is corrupted (a number too long or nesting too deep); "
                            f"`{make}` writes it again") from None
    except OSError as err:  # a folder in its place, no permission
        raise MnistlabError(f"{path} cannot be read ({err.strerror}); `{make}` writes it again") from None
    if not isinstance(data, dict):
        raise MnistlabError(f"{path} is corrupted (not a JSON object); `{make}` writes it again")
    return data


def staging_dir(out: Path) -> Path:
    """A new empty folder beside `out`, named after it, to be swapped in by `replace_dir`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes 0700 folders
    return staging


def replace_dir(staging: Path, out: Path) -> None:
    """Put `staging` in place of `out` with renames, so `out` is always whole (old or new) or absent."""
    staging, out = Path(staging), Path(out)
    if not out.exists():
        os.rename(staging, out)
        return
    old = out.with_name(f".{out.name}.old.{os.getpid()}.tmp")
    os.rename(out, old)
    os.rename(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def remove_stale(out: Path) -> None:
    """Remove what an interrupted write of `out` can leave beside it, all named `.<name>.*.tmp`: a
    staging folder, an old folder being swapped out, a file half-written by `atomic_write`. A killed
    process cannot clean up after itself; the next one writing `out` does."""
    out = Path(out)
    for stale in out.parent.glob(f".{glob.escape(out.name)}.*.tmp"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
