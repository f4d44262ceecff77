"""Reading MNIST from a user's file: a Keras-layout .npz, the four IDX files, Kaggle's CSV.

Every reader is bounded before it decompresses or allocates: an upload of a few hundred KB can
unpack to gigabytes (a gzip or zip bomb), so gzip is streamed through a cap, .npz members and
IDX files are checked by their headers first, and the CSV is parsed in chunks. Errors are
ValueErrors that name the file and the problem. numpy only.
"""

from __future__ import annotations

import gzip
import io
import itertools
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from genlib.data import MNIST, _as_digits, _split

__all__ = ["load_path", "load_npz", "pixel_scale", "MAX_DIGITS", "MAX_UNPACKED_BYTES"]

# What one file may cost before anything is decompressed or allocated: an upload of a few
# hundred KB can unpack to gigabytes (a gzip or zip bomb). Full MNIST is 70,000 digits and
# 439 MB as float64, the largest honest file.
MAX_DIGITS = 100_000
MAX_UNPACKED_BYTES = 640 * 2**20
_CSV_CHUNK_ROWS = 2_000
_CSV_MAX_LINE = 785 * 32  # a row of 785 numbers, each written with up to 31 characters


def pixel_scale(arrays, where: str) -> tuple[float, str | None]:
    """How to bring raw pixel arrays to [0, 1]: the divisor and a note when it is not obvious.

    MNIST pixels are 8-bit levels (0-255) or already in [0, 1]. Anything else is refused rather
    than silently mangled; an unusual reading (binary 0/1 integers, fractional values above 1)
    is kept and named in the note.
    """
    for a in arrays:
        if np.iscomplexobj(a):
            raise ValueError(f"{where}: pixel values must be real numbers, found {a.dtype}")
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise ValueError(f"{where}: images must be numeric, found {a.dtype}")
        if a.size and not np.all(np.isfinite(a)):
            raise ValueError(f"{where}: images contain NaN or infinite values")
    sized = [a for a in arrays if a.size]
    if not sized:
        return 1.0, None
    lo = min(float(a.min()) for a in sized)
    hi = max(float(a.max()) for a in sized)
    if lo < 0 or hi > 255:
        raise ValueError(f"{where}: pixel values must lie in [0, 1] or [0, 255] (8-bit levels),"
                         f" found [{lo:g}, {hi:g}]")
    if all(a.dtype == np.bool_ for a in sized):
        return 1.0, "binary images: True read as white (1), False as black (0)"
    if hi <= 1.0:
        if all(np.issubdtype(a.dtype, np.integer) for a in sized):
            return 1.0, "binary images (pixels 0 or 1): read as black and white, not as 8-bit"
        return 1.0, None
    if not all(np.issubdtype(a.dtype, np.integer) or np.all(a == np.round(a)) for a in sized):
        return 255.0, (f"pixel values in [{lo:g}, {hi:g}] are not whole numbers; read as 8-bit"
                       " levels and divided by 255")
    return 255.0, None


def _check_count(n: int, where: str) -> None:
    if n > MAX_DIGITS:
        raise ValueError(f"{where}: holds {n:,} digits; GenLab reads at most {MAX_DIGITS:,}"
                         " (full MNIST has 70,000)")


class _Capped(io.RawIOBase):
    """A read-only stream that refuses to yield more than ``limit`` bytes (a bomb stops here)."""

    def __init__(self, raw, limit: int, where: str):
        self._raw, self._left, self._where = raw, limit, where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer)
        try:
            n = self._raw.readinto(view[: self._left + 1])
        except (OSError, EOFError, zlib.error) as e:  # gzip's BadGzipFile is an OSError
            raise ValueError(f"{self._where}: corrupt or truncated gzip ({e})") from e
        if n > self._left:
            raise ValueError(f"{self._where}: unpacks to more than "
                             f"{MAX_UNPACKED_BYTES // 2**20} MB; GenLab reads files up to that")
        self._left -= n
        return n


def _open_bytes(path: Path) -> io.BufferedReader:
    """A binary stream of the file's content, gunzipped when it is gzip, capped at ``limit``.

    Nothing is read whole: a gzip bomb fails at the cap, not after filling the memory.
    Errors name the file.
    """
    limit = MAX_UNPACKED_BYTES
    try:
        size = path.stat().st_size
        f = path.open("rb")
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from e
    if size == 0:
        f.close()
        raise ValueError(f"{path}: the file is empty")
    head = f.peek(64)[:64] if hasattr(f, "peek") else b""
    if head[:2] == b"\x1f\x8b":
        return io.BufferedReader(_Capped(gzip.GzipFile(fileobj=f), limit, str(path)))
    if path.suffix == ".gz":
        f.close()
        head = head.lstrip().lower()
        what = "an HTML page" if head.startswith((b"<!doctype", b"<html")) else "not gzip data"
        raise ValueError(f"{path}: named .gz but the content is {what}")
    return io.BufferedReader(_Capped(f, limit, str(path)))


def _read_exactly(stream, n: int, path: Path, what: str) -> bytes:
    """``n`` bytes from ``stream``; a short read is a truncated file, named as such."""
    data = stream.read(n)
    if len(data) != n:
        raise ValueError(f"{path}: {what} promises {n:,} bytes, found {len(data):,}")
    return data


def _read_npy_member(zf: zipfile.ZipFile, name: str, path: Path, what: str) -> np.ndarray:
    """One array of an .npz, its header checked against the limits before any data is read."""
    info = zf.getinfo(name)
    with zf.open(info) as fp:
        try:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as e:
            raise ValueError(f"{path}: {what} is not a valid .npy array ({e})") from e
        header_len = fp.tell()
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.itemsize > 8:
        raise ValueError(f"{path}: {what} must hold real numbers, found dtype {dtype}")
    if shape:
        _check_count(shape[0], f"{path} ({what})")
    per_row = math.prod(shape[1:]) if len(shape) > 1 else 1
    if per_row > 784:
        raise ValueError(f"{path}: {what} has shape {shape}; a digit is 28 x 28")
    n_bytes = math.prod(shape) * dtype.itemsize
    if n_bytes > MAX_UNPACKED_BYTES:
        raise ValueError(f"{path}: {what} needs {n_bytes / 2**20:,.0f} MB; GenLab reads files up"
                         f" to {MAX_UNPACKED_BYTES // 2**20} MB")
    if info.file_size < header_len + n_bytes:
        raise ValueError(f"{path}: {what}'s header promises {n_bytes:,} bytes of data, the"
                         f" archive holds {max(info.file_size - header_len, 0):,}")
    with zf.open(info) as fp:  # read_array reads exactly what the checked header says
        return np.lib.format.read_array(fp, allow_pickle=False)


def load_npz(path: Path) -> MNIST:
    stream = _open_bytes(path)
    try:
        gzipped = isinstance(stream.raw._raw, gzip.GzipFile)
        # zipfile reads members lazily from the file; a gzipped .npz is unpacked (capped) first
        with zipfile.ZipFile(io.BytesIO(stream.read()) if gzipped else stream.raw._raw) as zf:
            members = {n.removesuffix(".npy"): n for n in zf.namelist()}
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(members)
            if missing:
                raise ValueError(
                    f"{path}: an MNIST .npz needs x_train, y_train, x_test, y_test;"
                    f" missing {', '.join(sorted(missing))}"
                )
            names = ("x_train", "y_train", "x_test", "y_test")
            arrays = {k: _read_npy_member(zf, members[k], path, k) for k in names}
    except ValueError as e:
        if str(path) in str(e):
            raise
        raise ValueError(f"{path}: not a readable .npz archive ({e})") from e
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise ValueError(f"{path}: not a readable .npz archive ({e})") from e
    finally:
        stream.close()
    _check_count(len(arrays["x_train"]) + len(arrays["x_test"]), str(path))
    scale, note = pixel_scale([arrays["x_train"], arrays["x_test"]], str(path))
    train = _as_digits(arrays["x_train"], arrays["y_train"], f"{path} (train)", scale)
    test = _as_digits(arrays["x_test"], arrays["y_test"], f"{path} (test)", scale)
    return MNIST(train, test, f"MNIST from {path.name}, {len(train) + len(test):,} digits",
                 notes=(note,) if note else ())


def _parse_idx(path: Path, image_file: bool) -> np.ndarray:
    """One IDX file (the format of MNIST's original distribution), gzipped or not.

    The header is checked against the digit limit before the data is read.
    """
    with _open_bytes(path) as stream:
        magic = stream.read(4)
        if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != 0x08:
            raise ValueError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
        ndim = magic[3]
        want = 3 if image_file else 1
        if ndim != want:
            raise ValueError(f"{path}: an IDX {'image' if image_file else 'label'} file has "
                             f"{want} dimension(s), this one has {ndim}")
        dims = _read_exactly(stream, 4 * ndim, path, "the IDX header")
        shape = tuple(int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(ndim))
        _check_count(shape[0], str(path))
        if image_file and shape[1:] != (28, 28):
            raise ValueError(f"{path}: images must be 28 x 28, got shape {shape}")
        size = math.prod(shape)
        data = _read_exactly(stream, size, path, "the IDX header")
        if stream.read(1):
            raise ValueError(f"{path}: IDX header promises {size:,} bytes of data, found more")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


_IDX_NAMES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _load_idx_folder(folder: Path) -> MNIST:
    arrays = {}
    for key, names in _IDX_NAMES.items():
        candidates = [folder / (n + s) for n in names for s in ("", ".gz")]
        found = [p for p in candidates if p.exists()]
        if not found:
            raise ValueError(f"{folder}: no {names[0]}[.gz] file in this folder")
        arrays[key] = _parse_idx(found[0], image_file=key.startswith("x"))
    _check_count(len(arrays["x_train"]) + len(arrays["x_test"]), str(folder))
    train = _as_digits(arrays["x_train"], arrays["y_train"], f"{folder} (train IDX files)")
    test = _as_digits(arrays["x_test"], arrays["y_test"], f"{folder} (t10k IDX files)")
    return MNIST(train, test, f"MNIST from IDX files in {folder.name}, "
                              f"{len(train) + len(test):,} digits")


def _csv_lines(text, path: Path):
    """Non-empty lines of a CSV stream, each bounded in length (a bomb has no newlines)."""
    while True:
        try:
            line = text.readline(_CSV_MAX_LINE)
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not a text CSV file") from e
        if not line:
            return
        if len(line) == _CSV_MAX_LINE and not line.endswith("\n"):
            raise ValueError(f"{path}: a row is longer than {_CSV_MAX_LINE:,} characters; each"
                             " row holds a label and 784 pixel values")
        line = line.strip()
        if line:
            yield line


def _load_csv(path: Path) -> MNIST:
    """Kaggle's train.csv: a header row, then the label and 784 pixel values per row.

    Streamed in chunks of rows: memory stays bounded by the digits kept, never the text.
    """
    chunks = []
    n_rows = 0
    with _open_bytes(path) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        lines = _csv_lines(text, path)
        first = next(lines, None)
        if first is not None and not first.split(",", 1)[0].strip().lstrip("-").replace(
                ".", "", 1).isdigit():
            first = None  # a header
        rows = itertools.chain([first] if first is not None else [], lines)
        while chunk := list(itertools.islice(rows, _CSV_CHUNK_ROWS)):
            widths = {line.count(",") + 1 for line in chunk}
            if widths != {785}:
                raise ValueError(
                    f"{path}: each row needs a label and 784 pixels (785 columns), "
                    f"found {sorted(widths)[:3]} columns"
                )
            n_rows += len(chunk)
            _check_count(n_rows, str(path))
            try:
                chunks.append(np.loadtxt(chunk, delimiter=",", dtype=np.float64, ndmin=2,
                                         comments=None, encoding=None)
                              .astype(np.float32))
            except ValueError as e:
                raise ValueError(f"{path}: non-numeric value in the CSV ({e})") from e
    if not chunks:
        raise ValueError(f"{path}: no data rows")
    table = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    del chunks
    scale, note = pixel_scale([table[:, 1:]], str(path))
    digits = _as_digits(table[:, 1:], table[:, 0], str(path), scale)
    mnist = _split(digits, "", "file")
    return MNIST(mnist.train, mnist.test,
                 f"MNIST from {path.name}, {len(digits):,} digits", "file",
                 notes=(note,) if note else ())


def load_path(path: Path) -> MNIST:
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    if path.is_dir():
        return _load_idx_folder(path)
    name = path.name.lower()
    if name.endswith(".npz"):
        return load_npz(path)
    if name.endswith((".csv", ".csv.gz")):
        return _load_csv(path)
    raise ValueError(
        f"{path}: unknown format; use a Keras-layout .npz, Kaggle's train.csv "
        "or a folder of the four IDX files"
    )
