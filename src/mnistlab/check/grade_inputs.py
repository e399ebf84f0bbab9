"""What `mnistlab grade` is given, as submissions: notebooks, folders and LMS zips (a folder or a
file-name prefix per student, as Moodle and Canvas export them), each copied into a private folder of
its own with the `.pth` files handed in beside it. Zips are opened defensively (no path traversal, no
links, caps on size and count): an LMS export is data from many people, not a trusted archive."""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from mnistlab.errors import MnistlabError

ZIP_MAX_MEMBERS = 20_000  # a class of hundreds, a few files each
ZIP_MAX_MEMBER_BYTES = 256 * 2**20  # a notebook with its outputs is a few MB; a .pth under 3 MB
ZIP_MAX_TOTAL_BYTES = 4 * 2**30  # the whole export, unpacked
MAX_NAME = 80  # characters of a submission's name kept in file names
WEIGHT_NAMES = ("multinn.pth", "cnn.pth")  # what the practice saves
IGNORED = re.compile(r"^(__MACOSX|\.ipynb_checkpoints|\..*|Thumbs\.db|desktop\.ini)$", re.IGNORECASE)
# Moodle: "Ana López_12345_assignsubmission_file_" (a folder, or a prefix of each file in older exports)
MOODLE = re.compile(r"^(?P<student>.+?_\d+)_assignsubmission_(?:file|onlinetext)_(?P<rest>.*)$", re.DOTALL)
# Canvas: "lopezana_12345_67890_practica2.ipynb" (optionally with "_late" after the name)
CANVAS = re.compile(r"^(?P<student>[^_/]+(?:_late)?_\d+_\d+)_(?P<rest>.+)$", re.DOTALL)


@dataclass
class Submission:
    name: str  # the student's name as the LMS gives it, or the notebook's
    notebook: Path | None  # the file to check (None: the submission holds no notebook)
    pth_files: list[Path] = field(default_factory=list)
    origin: str = ""  # where it came from, for messages
    others: list[str] = field(default_factory=list)  # other files handed in, by name
    digest: str = ""  # sha-256 of everything handed in, set by `stage`


def student_key(file_name: str) -> tuple[str | None, str]:
    """(student, rest) for an LMS-prefixed name; (None, name) for any other."""
    for pattern in (MOODLE, CANVAS):
        match = pattern.match(file_name)
        if match and match["rest"]:
            return match["student"], match["rest"]
    match = MOODLE.match(file_name)  # a Moodle folder: nothing after the prefix
    if match:
        return match["student"], ""
    return None, file_name


def collect(paths: list[Path], work: Path, exclude: Path | None = None) -> list[Submission]:
    """The submissions in `paths` (notebooks, other files, folders, zips); zips are unpacked under `work`.
    `exclude` (grade's own --out, when it lies inside a class folder) is never taken for a submission."""
    submissions = []
    for number, path in enumerate(map(Path, paths)):
        if not path.exists():
            raise MnistlabError(f"{path} does not exist; pass notebooks, folders or a zip of submissions")
        if path.is_dir():
            submissions += from_folder(path)
        elif path.suffix.lower() == ".zip":
            submissions += from_folder(unzip(path, work / f"zip-{number}"), origin=path)
        else:
            submissions += from_files(path.parent, [path], single=True)
    if exclude is not None:
        submissions = [s for s in submissions if Path(s.origin).resolve() != Path(exclude).resolve()]
    return unique_names(submissions)


def from_folder(folder: Path, origin: Path | None = None) -> list[Submission]:
    """A class folder (one subfolder or file prefix per student), or one student's folder."""
    entries = visible(folder)
    while len(entries) == 1 and entries[0].is_dir() and student_key(entries[0].name)[0] is None:
        folder, entries = entries[0], visible(entries[0])  # a zip's single wrapping folder
    folders = [e for e in entries if e.is_dir()]
    loose = [e for e in entries if e.is_file()]
    if not folders:
        return from_files(folder, loose, single=False, folder_name=folder.name)
    submissions = [from_student_folder(f) for f in folders]
    if loose:
        submissions += from_files(folder, loose, single=False)
    return submissions


def from_student_folder(folder: Path) -> Submission:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(IGNORED.match(part) for part in
                                                                           p.relative_to(folder).parts))
    student, _ = student_key(folder.name)
    return assemble(student or folder.name, files, str(folder))


def from_files(folder: Path, files: list[Path], single: bool, folder_name: str | None = None) -> list[Submission]:
    """Loose files: grouped by LMS prefix; without one, each notebook is a submission (and a folder
    holding only one notebook is one student's folder, named after it). A file named on the command
    line (`single`) brings the practice's .pth files beside it (or those with its LMS prefix)."""
    if single:
        path = files[0]
        student, _ = student_key(path.name)
        weights = [p for p in visible(folder) if p.suffix.lower() == ".pth" and p.is_file()
                   and (student_key(p.name)[0] == student if student else p.name.lower() in WEIGHT_NAMES)]
        return [assemble(student or path.stem, [path, *weights] if path.suffix.lower() == ".ipynb" else [path],
                         str(path))]
    groups: dict[str, list[Path]] = {}
    plain = []
    for path in files:
        student, _ = student_key(path.name)
        if student is not None:
            groups.setdefault(student, []).append(path)
        else:
            plain.append(path)
    submissions = [assemble(student, group, f"{folder}/{student}_*") for student, group in groups.items()]
    notebooks = [p for p in plain if p.suffix.lower() == ".ipynb"]
    if len(notebooks) == 1 and not groups:
        return [assemble(folder_name or notebooks[0].stem, plain, str(folder))]
    for notebook in notebooks:
        submissions.append(assemble(notebook.stem, [notebook], str(notebook)))
    if not notebooks and plain and not groups:
        submissions.append(assemble(folder_name or folder.name, plain, str(folder)))
    return submissions


def assemble(name: str, files: list[Path], origin: str) -> Submission:
    notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
    preferred = [p for p in notebooks if "practica" in p.name.lower()] or notebooks
    notebook = preferred[0] if preferred else None
    pth = [p for p in files if p.suffix.lower() == ".pth"]
    others = [p.name for p in files if p != notebook and p not in pth]
    if notebook is None and len(files) == 1:  # one file that is not a notebook: checked, and said so
        notebook, others = files[0], []
    return Submission(name=name, notebook=notebook, pth_files=pth, origin=origin, others=others)


def visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not IGNORED.match(p.name) and not p.is_symlink())


def safe_name(name: str) -> str:
    """`name` as a file name: letters (any script), digits, space and . , @ ( ) - _ kept; the rest '_'."""
    cleaned = re.sub(r"[^\w .,@()\-]", "_", name).strip(" .")[:MAX_NAME].strip(" .")
    return cleaned or "submission"


def unique_names(submissions: list[Submission]) -> list[Submission]:
    """Names that are also distinct file names (a second "practica2" becomes "practica2 (2)")."""
    seen: set[str] = set()
    for submission in submissions:
        base = safe_name(submission.name)
        name, n = base, 1
        while name.lower() in seen:
            n += 1
            name = f"{base} ({n})"
        seen.add(name.lower())
        submission.name = name
    return submissions


# --- a private copy of each submission --------------------------------------------------------------

def stage(submission: Submission, folder: Path) -> Submission:
    """Copy what `submission` handed in into `folder` (its own; the sandbox sees only this), the
    practice's weight files under their own names; fills in `digest`."""
    folder.mkdir(parents=True)
    digest = hashlib.sha256()
    staged_pth = []
    notebook = None
    if submission.notebook is not None:
        notebook = folder / safe_name(student_key(submission.notebook.name)[1] or submission.notebook.name)
        shutil.copyfile(submission.notebook, notebook)
        digest.update(b"notebook\0" + file_digest(notebook).encode())
    for path in submission.pth_files:
        known = [w for w in WEIGHT_NAMES if path.name.lower().endswith(w)]
        target = folder / (known[0] if known else safe_name(path.name))
        if target.exists():  # two files claim multinn.pth: keep the first, name the other
            submission.others.append(path.name)
            continue
        shutil.copyfile(path, target)
        staged_pth.append(target)
        digest.update(target.name.encode() + b"\0" + file_digest(target).encode())
    return Submission(name=submission.name, notebook=notebook, pth_files=staged_pth, origin=submission.origin,
                      others=submission.others, digest=digest.hexdigest())


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- zips -----------------------------------------------------------------------------------------------

def member_path(info: zipfile.ZipInfo, archive: Path) -> PurePosixPath | None:
    """The member's path inside the target folder, or None for a folder entry; unsafe names refused."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name) or ".." in path.parts:
        raise MnistlabError(f"{archive} is unsafe: member {info.filename!r} points outside the archive "
                            f"(path traversal); unpack it yourself and pass the folder")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise MnistlabError(f"{archive} is unsafe: member {info.filename!r} is a symbolic link; "
                            f"unpack it yourself and pass the folder")
    if info.is_dir() or not path.parts:
        return None
    return path


def unzip(archive: Path, target: Path, max_members: int = ZIP_MAX_MEMBERS,
          max_member_bytes: int = ZIP_MAX_MEMBER_BYTES, max_total_bytes: int = ZIP_MAX_TOTAL_BYTES) -> Path:
    """Unpack `archive` into the new folder `target`, counting the bytes really written (a header can
    lie about a member's size)."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise MnistlabError(f"{archive} is not a readable zip ({err}); pass the LMS's export as it was downloaded") from None
    with zf:
        members = zf.infolist()
        if len(members) > max_members:
            raise MnistlabError(f"{archive} holds {len(members):,} files, over the limit of {max_members:,} "
                                f"(a zip bomb?); unpack it yourself and pass the folder")
        declared = sum(m.file_size for m in members)
        if declared > max_total_bytes:
            raise MnistlabError(f"{archive} unpacks to {declared / 2**30:.1f} GiB, over the limit of "
                                f"{max_total_bytes / 2**30:.1f} GiB (a zip bomb?); unpack it yourself and pass the folder")
        target.mkdir(parents=True)
        total = 0
        for info in members:
            path = member_path(info, archive)
            if path is None:
                continue
            if info.flag_bits & 0x1:
                raise MnistlabError(f"{archive}: member {info.filename!r} is encrypted; export the submissions without a password")
            destination = target.joinpath(*path.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as source, open(destination, "wb") as out:
                for chunk in iter(lambda: source.read(2**20), b""):
                    written += len(chunk)
                    total += len(chunk)
                    if written > max_member_bytes or total > max_total_bytes:
                        raise MnistlabError(
                            f"{archive}: member {info.filename!r} unpacks past the limit of "
                            f"{min(max_member_bytes, max_total_bytes) / 2**20:,.0f} MiB (a zip bomb?); "
                            f"unpack it yourself and pass the folder")
                    out.write(chunk)
    return target
