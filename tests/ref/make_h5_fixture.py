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


if __name__ == "__main__":
    prepare_datasets_layout("data/h5py_prepare_datasets.h5")
    fixed_names_layout("data/h5py_fixed_names.h5")
