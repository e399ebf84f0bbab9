"""Files written whole or not at all: atomic writes (temporary name, then rename), JSON in and out,
reads of regular files only and only so much of them, and swapping a finished folder in place of an
old one that is ours to replace. Everything that reads or writes run files goes through here."""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from mnistlab.errors import MnistlabError

MAX_JSON_BYTES = 32 << 20  # a run's JSON: history.json of 10 epochs at batch 64 is ~200 kB; batch 1, ~13 MB
MB = 1 << 20


class UnreadableFile(MnistlabError):
    """A path that is not a regular file (a folder, a FIFO, a device), is larger than its cap, or
    cannot be opened; `reason` says which, the message names the path too."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path} {reason}")
        self.path, self.reason = path, reason


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of the regular file `path` (a link to one is fine), at most `limit` of them. A
    folder, a FIFO, a device such as /dev/zero or a larger file raises UnreadableFile before anything
    is read or waited for; a missing file raises FileNotFoundError, for the caller to say how to make it."""
    path = Path(path)
    try:  # O_NONBLOCK: opening a FIFO would otherwise wait for a writer, forever
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as err:
        raise UnreadableFile(path, f"cannot be read ({err.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(path, f"cannot be read ({_kind(info.st_mode)}, not a file)")
        if info.st_size > limit:
            raise UnreadableFile(path, f"is {info.st_size / MB:,.1f} MB, more than the {limit / MB:g} MB read")
        with os.fdopen(fd, "rb") as f:
            fd = None  # closed with f
            data = f.read(limit + 1)  # a file growing while it is read is still read only so far
    except OSError as err:
        raise UnreadableFile(path, f"cannot be read ({err.strerror})") from None
    finally:
        if fd is not None:
            os.close(fd)
    if len(data) > limit:
        raise UnreadableFile(path, f"is more than the {limit / MB:g} MB read")
    return data


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
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename is None:  # a failed write() does not say which file; the message should
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise
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
    try:
        data = json.loads(read_bytes(path, MAX_JSON_BYTES))
    except FileNotFoundError:
        raise MnistlabError(f"{path} is missing; `{make}` makes it") from None
    except UnreadableFile as err:  # a FIFO, /dev/zero, a folder, a file far too large
        raise MnistlabError(f"{path} {err.reason}; `{make}` writes it again") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MnistlabError(f"{path} is corrupted ({getattr(err, 'msg', err)}); `{make}` writes it again") from None
    except (ValueError, RecursionError):  # an integer of over 4,300 digits; nesting deeper than the stack
        raise MnistlabError(f"{path} is corrupted (a number too long or nesting too deep); "
                            f"`{make}` writes it again") from None
    except OSError as err:  # a name too long, a loop of links
        raise MnistlabError(f"{path} cannot be read ({err.strerror}); `{make}` writes it again") from None
    if not isinstance(data, dict):
        raise MnistlabError(f"{path} is corrupted (not a JSON object); `{make}` writes it again")
    return data


def listing(names: list[str], most: int = 3) -> str:
    """'a, b and c' or 'a, b, c and 4 more': what a folder holds, for a one-line message."""
    names = sorted(names)
    if len(names) > most:
        return f"{', '.join(names[:most])} and {len(names) - most} more"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def foreign_entries(folder: Path, ours) -> list[str]:
    """What in `folder` is not one of the file names `ours` (a folder counts as foreign whatever its
    name: it may hold anything), each as shown to the user (folders with a trailing /)."""
    foreign = []
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            foreign.append(entry.name + "/")
        elif entry.name not in ours:
            foreign.append(entry.name)
    return foreign


def out_folder(out: Path, flag: str, what: str, not_ours, example: str) -> Path:
    """The folder `flag out` names, checked before any long work: to be replaced whole, it must be
    absent, empty, or what `not_ours(folder)` accepts (it returns None, or why the folder is not
    ours to replace); `example` is a good value to suggest. A link is followed, so the folder it
    points to is written and the link stays; a dangling link, a file, the current folder or one above it are refused in one line."""
    out = Path(out)
    try:
        if out.is_symlink() and not out.exists():
            raise MnistlabError(f"{flag} {out} is a link to {os.readlink(out)}, which does not exist; create "
                                f"that folder or pass another {flag}")
        real = out.resolve()
        here = Path.cwd().resolve()
        if real == here or real in here.parents:
            where = "the current folder" if real == here else "a folder above the current one"
            raise MnistlabError(f"{flag} {out} is {where}, which {what} would replace whole; pass a folder of its "
                                f"own, such as {flag} {example}")
        if real.exists() and not real.is_dir():
            raise MnistlabError(f"{flag} {out} is a file; pass a folder for {what}")
        reason = not_ours(real) if real.is_dir() else None
    except OSError as err:  # a name too long, a loop of links, a folder that cannot be listed
        raise MnistlabError(f"{flag} {out} cannot be used ({err.strerror}); pass another {flag}") from None
    except RuntimeError:  # pathlib's word for a loop of links on Python 3.11
        raise MnistlabError(f"{flag} {out} is a loop of links; pass another {flag}") from None
    if reason:
        raise MnistlabError(f"{flag} {out} {reason}; nothing was touched: pass a new or empty folder, or move "
                            f"those files away")
    return real if out.is_symlink() or out.name in ("", "..") else out


def check_writable(folder: Path, what: str, fix: str) -> None:
    """Fail now, not after the long work, if `folder`'s parent cannot take new files (read-only, no
    permission); the parent is made if missing."""
    folder = Path(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder.parent):
            pass
    except OSError as err:  # the probe's own temporary name would say nothing
        raise write_error(what, folder, OSError(err.errno, err.strerror), fix) from None


def write_error(what: str, where: Path, err: OSError, fix: str) -> MnistlabError:
    """A failed write (disk full, read-only disk, no permission) as one line: what could not be
    written, where, why, and `fix`."""
    detail = f"{err.strerror or err}" + (f" while writing {Path(err.filename).name}"
                                         if err.filename and Path(err.filename) != Path(where) else "")
    return MnistlabError(f"cannot write {what} {where} ({detail}); {fix}")


@contextmanager
def writing(what: str, where: Path, fix: str):
    """`write_error` for an OSError raised inside the block."""
    try:
        yield
    except OSError as err:
        raise write_error(what, where, err, fix) from None


def staging_dir(out: Path) -> Path:
    """A new empty folder beside `out`, named after it, to be swapped in by `replace_dir`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes 0700 folders
    return staging


def replace_dir(staging: Path, out: Path, not_ours=None) -> None:
    """Put `staging` in place of `out` with renames, so `out` is always whole (old or new) or absent.
    `not_ours(out)`, if given, is asked once more just before: files put into `out` while the new
    one was being made are never thrown away."""
    staging, out = Path(staging), Path(out)
    if out.is_symlink():  # never swap a link for a folder: write where it points
        out = out.resolve()
    if not out.exists():
        os.rename(staging, out)
        return
    reason = not_ours(out) if not_ours is not None else None
    if reason:
        raise MnistlabError(f"{out} {reason} (put there while it was being replaced); nothing was touched, and "
                            f"the new folder was not kept")
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", suffix=".tmp", dir=out.parent))
    os.rename(out, old)  # an empty folder is renamed over (POSIX), so `old` is the old `out`, whole
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
