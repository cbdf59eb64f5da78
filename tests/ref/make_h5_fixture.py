"""Writes the HDF5 fixtures of tests/test_containers.c with h5py, in the two
layouts the Python AnomalyMatch tool (esa/AnomalyMatch v1.0.0) writes and
reads (its prediction_process_hdf5.py reads h5f["images"] and
h5f["filenames"]):

  data/h5py_prepare_datasets.h5  as paper_scripts/prepare_datasets.py
      (create_hdf5_file): `images` h5py.vlen_dtype(np.dtype("uint8")) with
      compression="gzip", `filenames` h5py.special_dtype(vlen=str); the last
      element is left unwritten, as that script does when an image fails.
  data/h5py_fixed_names.h5       as tests/test_prediction_process.py:
      `images` vlen uint8 uncompressed, `filenames` np.array(names, dtype="S")
      (fixed-length, null-padded ASCII).

The items are the bytes of files in tests/data, which the test compares.

And the dense layout (a numpy array of pixels as `images`, N first):

  data/h5_dense_u8.h5    uint8 (3, 5, 4): v = 7 + 60 k + 4 y + x; `filenames`
                         vlen str "a.png", "sub/b.png", "c.png"
  data/h5_dense_u16.h5   uint16 (3, 4, 6, 1): v = 30000 + 9000 k + 100 y + 10 x
                         (over 32767 from k = 1: a signed read would show);
                         no `filenames`
  data/h5_dense_f32.h5   float32 (2, 3, 5, 2), chunked (1, 3, 5, 2), gzip:
                         v = 10 k + y + 0.25 x + 0.125 c - 3, NaN at
                         [1, 2, 4, 1]; `filenames` fixed-length "S"
  data/h5_dense_i8.h5    int8 (2, 4, 4): a type am refuses
  data/h5_dense_rank2.h5 uint8 (3, 16): a rank am refuses

tests/test_containers.c computes the same values and compares them with
what am reads; tests/test_dataset.c lists these files for training.
Run from tests/:  ../.venv-ref/bin/python ref/make_h5_fixture.py
Made with Python 3.11, h5py==3.16.0, numpy==2.4.6 (its bundled libhdf5 2.0.0).
"""
import h5py
import numpy as np

ITEMS = [
    ("png_gray16.png", "data/png_gray16.png"),
    ("sub/png_palette_trns.png", "data/png_palette_trns.png"),
    ("png_rgba.png", "data/png_rgba.png"),
    ("gray_q75.jpg", "data/gray_q75.jpg"),
]


def read(path):
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8)


def prepare_datasets_layout(path):
    names = [n for n, _ in ITEMS]
    names[2] = "\u00fcn\u00efcode_rgba.png"
    with h5py.File(path, "w") as hf:
        images = hf.create_dataset(
            "images", shape=(len(ITEMS) + 1,), dtype=h5py.vlen_dtype(np.dtype("uint8")), compression="gzip"
        )
        filenames = hf.create_dataset("filenames", shape=(len(ITEMS) + 1,), dtype=h5py.special_dtype(vlen=str))
        for i, (name, (_, src)) in enumerate(zip(names, ITEMS)):
            images[i] = read(src)
            filenames[i] = name


def fixed_names_layout(path):
    with h5py.File(path, "w") as hf:
        images = hf.create_dataset("images", (len(ITEMS),), dtype=h5py.vlen_dtype(np.dtype("uint8")))
        hf.create_dataset("filenames", data=np.array([n for n, _ in ITEMS], dtype="S"))
        for i, (_, src) in enumerate(ITEMS):
            images[i] = read(src)


def dense_layouts():
    k, y, x = np.meshgrid(np.arange(3), np.arange(5), np.arange(4), indexing="ij")
    u8 = (7 + 60 * k + 4 * y + x).astype(np.uint8)
    with h5py.File("data/h5_dense_u8.h5", "w") as hf:
        hf.create_dataset("images", data=u8)
        hf.create_dataset("filenames", data=["a.png", "sub/b.png", "c.png"], dtype=h5py.special_dtype(vlen=str))

    k, y, x, c = np.meshgrid(np.arange(3), np.arange(4), np.arange(6), np.arange(1), indexing="ij")
    u16 = (30000 + 9000 * k + 100 * y + 10 * x).astype(np.uint16)
    with h5py.File("data/h5_dense_u16.h5", "w") as hf:
        hf.create_dataset("images", data=u16)

    k, y, x, c = np.meshgrid(np.arange(2), np.arange(3), np.arange(5), np.arange(2), indexing="ij")
    f32 = (10 * k + y + 0.25 * x + 0.125 * c - 3).astype(np.float32)
    f32[1, 2, 4, 1] = np.nan
    with h5py.File("data/h5_dense_f32.h5", "w") as hf:
        hf.create_dataset("images", data=f32, chunks=(1, 3, 5, 2), compression="gzip")
        hf.create_dataset("filenames", data=np.array(["f0.fits", "f1.fits"], dtype="S"))

    with h5py.File("data/h5_dense_i8.h5", "w") as hf:
        hf.create_dataset("images", data=np.zeros((2, 4, 4), dtype=np.int8))
    with h5py.File("data/h5_dense_rank2.h5", "w") as hf:
        hf.create_dataset("images", data=np.zeros((3, 16), dtype=np.uint8))


if __name__ == "__main__":
    prepare_datasets_layout("data/h5py_prepare_datasets.h5")
    fixed_names_layout("data/h5py_fixed_names.h5")
    dense_layouts()
