"""Benchmark cutouts for bench/infer_vs_python.sh: gray PNG and JPEG of one set.

Reads the PNGs that `am_demo --out SRC --size 150` wrote (SRC/images/*.png,
8-bit gray) and writes, under DST:
  DST/png/NAME.png    the same files, hard-linked (copied where links fail)
  DST/jpeg/NAME.jpg   each re-encoded by Pillow as an 8-bit grayscale ("L")
                      baseline JPEG, --quality (default 90: the quality that
                      AnomalyMatch v1.0's paper_scripts/prepare_datasets.py uses)
  DST/cutouts.h5      with --hdf5: the JPEGs in AnomalyMatch v1.0's HDF5 layout
                      (dataset `images`: vlen uint8, one encoded file each, gzip;
                      dataset `filenames`: vlen str), for
                      `bench/infer_vs_python.py --hdf5`.

  .venv-ref/bin/python bench/make_cutouts.py SRC DST [--quality 90] [--hdf5]

Pillow 13.0.0 (and h5py 3.16.0 for --hdf5), as pinned in bench/infer_vs_python.py.
"""

import argparse
import io
import os
import shutil

from PIL import Image


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", help="am_demo output directory (with images/*.png)")
    ap.add_argument("dst", help="output directory (png/, jpeg/ made inside)")
    ap.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    ap.add_argument("--hdf5", action="store_true", help="also write DST/cutouts.h5 of the JPEGs")
    args = ap.parse_args()

    src = os.path.join(args.src, "images")
    names = sorted(n for n in os.listdir(src) if n.lower().endswith(".png"))
    if not names:
        raise SystemExit(f"make_cutouts: no PNG files in {src}")
    png_dir = os.path.join(args.dst, "png")
    jpg_dir = os.path.join(args.dst, "jpeg")
    os.makedirs(png_dir, exist_ok=True)
    os.makedirs(jpg_dir, exist_ok=True)
    jpegs = []
    for n in names:
        s, d = os.path.join(src, n), os.path.join(png_dir, n)
        if not os.path.exists(d):
            try:
                os.link(s, d)
            except OSError:
                shutil.copyfile(s, d)
        with Image.open(s) as im:
            im = im.convert("L")
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=args.quality)
        jname = os.path.splitext(n)[0] + ".jpg"
        with open(os.path.join(jpg_dir, jname), "wb") as f:
            f.write(buf.getvalue())
        jpegs.append((jname, buf.getvalue()))
    if args.hdf5:
        import h5py
        import numpy as np

        with h5py.File(os.path.join(args.dst, "cutouts.h5"), "w") as hf:
            img = hf.create_dataset("images", shape=(len(jpegs),),
                                    dtype=h5py.vlen_dtype(np.dtype("uint8")), compression="gzip")
            fn = hf.create_dataset("filenames", shape=(len(jpegs),),
                                   dtype=h5py.special_dtype(vlen=str))
            for i, (jname, b) in enumerate(jpegs):
                img[i] = np.frombuffer(b, dtype=np.uint8)
                fn[i] = jname
    print(f"make_cutouts: {len(names)} images -> {png_dir}, {jpg_dir} (quality {args.quality})"
          + (", cutouts.h5" if args.hdf5 else ""))


if __name__ == "__main__":
    main()
