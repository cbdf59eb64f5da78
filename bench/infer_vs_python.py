"""AnomalyMatch v1.0's own prediction path, timed, with an am model: the Python
side of bench/infer_vs_python.sh.

Versions (pinned; the venv of tests/ref/requirements.txt plus the tool's
prediction dependencies):
  torch 2.11.0 (PyPI wheel, CPU), torchvision 0.26.0, numpy 2.4.6, pillow 13.0.0,
  scikit-image 0.26.0 (scipy 1.17.1), pandas 3.1.1, PyTurboJPEG 1.8.3 over
  Debian's libturbojpeg0 2.1.5, efficientnet-lite-pytorch 0.1.0, h5py 3.16.0.
    .venv-ref/bin/pip install scikit-image==0.26.0 pandas==3.1.1 \
        PyTurboJPEG==1.8.3 efficientnet-lite-pytorch==0.1.0 h5py==3.16.0
    apt-get install libturbojpeg0

What it reproduces (esa/AnomalyMatch, tag v1.0.0 = commit 2cde6c3d; no code
of the tool is copied, the same library calls are made in the same order):
- listing (anomaly_match/pipeline/session.py:467-472): os.listdir(search_dir),
  kept in listdir order, extension (lower-cased) in .jpg .jpeg .png .tif .tiff;
- decoding (prediction_process.py:40-74): .jpg/.jpeg read whole and decoded by
  PyTurboJPEG's TurboJPEG().decode(bytes) (its default: BGR, 3 channels, so a
  gray JPEG comes back as 3 equal planes); any other file np.array(PIL open);
  2-D or 1-channel -> np.stack((img,)*3, axis=-1); more than 3 channels -> the
  first 3; unreadable -> zeros;
- resizing, only when image.shape[:2] != tuple(cfg.size):
  skimage.transform.resize(img, size, anti_aliasing=True, preserve_range=True)
  (so order 1, mode "reflect", Gaussian pre-filter sigma (scale-1)/2) then
  .astype(np.uint8) (truncation);
- transforms.Compose([transforms.ToTensor()]) (prediction_utils.py:114-116):
  uint8 HWC -> float32 CHW in [0,1], no mean/std;
- every image loaded first by ThreadPoolExecutor(max_workers=1).map
  (prediction_process.py:88-98), then the model built and loaded (lines 100-101,
  excluded from the timing here), then batches of 1000 (evaluate_files default):
  torch.stack, torch.no_grad, model(images) in eval mode, fp32, NCHW,
  softmax(dim=-1)[:, 1] (prediction_utils.py:119-128);
- the model: efficientnet_lite_pytorch.EfficientNet "efficientnet-lite0",
  num_classes 2, in_channels 3 (prediction_utils.py:29-36), i.e. static TF-SAME
  pads precomputed for 224 px, whatever the input size; its state_dict is
  filled from an am weight file (weights/FORMAT.md, versions 1 and 2) by the
  name/layout map of tests/ref/amtf.py;
- the outputs (prediction_utils.py:56-111, then prediction_process.py:148-196):
  OUT/<save>_top<N>.csv (pandas, columns Filename,Score, top N by score, N 1000
  as the GUI passes), OUT/<save>_top<N>.npy (the top N input tensors, float32
  N x 3 x S x S), OUT/all_predictions_<save>.npz (np.savez_compressed of all
  filenames and scores); then main() merges again and rewrites the CSV and the
  .npy. Existing outputs in OUT are merged as the tool merges them.
- --hdf5 FILE reproduces prediction_process_hdf5.py instead: datasets `images`
  (vlen uint8: one encoded JPEG/PNG file each) and `filenames` (vlen str), the
  model loaded before the loop, batches of 2500 read by slicing, each batch
  decoded by a fresh ThreadPoolExecutor(max_workers=1): TurboJPEG first, PIL on
  failure, gray -> 3 channels, no resize at all (images must be at cfg.size).

What differs, and why:
- torch.set_num_threads(--threads); the tool leaves torch's default (the number
  of physical cores, 2 on the development VM, so the same there).
- no loguru logging and no tqdm progress bar (a few ms); no TOML config file.
- the model is built with from_name and loaded from the am file instead of
  from_pretrained + torch.load of a .pth checkpoint's "eval_model": the same
  module (pretraining only sets the initial weights, which are overwritten).
- the one-time costs (Python start, imports, model build and load) are timed
  apart and left out of img/s: img/s = images / (listing + load + forward +
  writes). The GUI runs the whole of prediction_process.py once PER IMAGE FILE
  of a directory (session.py:424-433 writes a one-line file list for each), so
  it pays them per image: --gui-files K times that path on the first K images.
- --true-same builds the model with image_size = --size (true TF SAME padding,
  as am computes it) instead of the tool's 224-px pads: only to separate the
  padding difference from the resize difference when comparing scores. At 64 px
  (all stride-2 inputs even) both pads agree; at 150 px (75-px stage) they do not.
- an all-images OUT/scores.csv (Filename as basename, Score; highest first) is
  written after the timing, for --compare (with --writes csv it is the only
  output and is timed).

Prints one line per run (or one JSON object with --json): images, seconds per
phase, img/s. --compare AM_SCORES.csv matches am's Filename,Score by basename
and prints max and mean |difference|.

  .venv-ref/bin/python bench/infer_vs_python.py --model R/model_ema.amw \\
      --images DIR --size 64 --threads 2 --out OUT [--json] [--compare CSV]
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

T_START = time.perf_counter()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from PIL import Image  # noqa: E402
from skimage.transform import resize  # noqa: E402
from torchvision import transforms  # noqa: E402
from turbojpeg import TurboJPEG  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "ref"))
import amtf  # noqa: E402

T_IMPORTS = time.perf_counter() - T_START

PIL_RESIZE = False  # --resize pil
EXTENSIONS = [".jpg", ".jpeg", ".png", ".tif", ".tiff"]  # session.py:460
jpeg_decoder = TurboJPEG()


# ---------------------------------------------------------------------------
# the am weight file -> the tool's model

def read_am(path):
    """Read an am tensor container (weights/FORMAT.md, version 1 or 2, float32
    entries) -> (arch, in_ch, classes, {name: float32 array})."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 40 or buf[:4] not in (b"AMWT", b"AMCK"):
        raise ValueError(f"{path}: not an am weight file")
    (version,) = struct.unpack_from("<I", buf, 4)
    if version not in (1, 2):
        raise ValueError(f"{path}: unsupported version {version}")
    (crc,) = struct.unpack_from("<I", buf, len(buf) - 4)
    if zlib.crc32(buf[:-4]) & 0xFFFFFFFF != crc:
        raise ValueError(f"{path}: CRC mismatch")
    arch = buf[8:24].split(b"\0", 1)[0].decode("ascii")
    in_ch, classes, count = struct.unpack_from("<III", buf, 24)
    off, table = 36, []
    for _ in range(count):
        name = buf[off:off + 64].split(b"\0", 1)[0].decode("ascii")
        if version == 2:
            typ, ndim, *dims = struct.unpack_from("<IIIIII", buf, off + 64)
            off += 88
        else:
            typ, (ndim, *dims) = 0, struct.unpack_from("<IIIII", buf, off + 64)
            off += 84
        table.append((name, typ, tuple(dims[:ndim])))
    tensors = {}
    for name, typ, shape in table:
        size = {0: 4, 1: 1, 2: 8}[typ] * int(np.prod(shape))
        if version == 2:
            off = (off + 7) // 8 * 8
        if typ == 0:
            tensors[name] = np.frombuffer(buf, "<f4", int(np.prod(shape)), off).reshape(shape).copy()
        off += size
    return arch, in_ch, classes, tensors


def load_model(path, size, true_same):
    """The tool's net (prediction_utils.load_model) with the am file's weights."""
    from efficientnet_lite_pytorch import EfficientNet

    arch, in_ch, classes, ours = read_am(path)
    if arch != "lite0" or classes != 2:
        raise SystemExit(f"{path}: arch {arch!r} with {classes} classes; the tool's net is lite0, 2 classes")
    kw = dict(num_classes=2)
    if true_same:
        kw["image_size"] = size
    model = EfficientNet.from_name("efficientnet-lite0", in_channels=in_ch, **kw)
    sd = model.state_dict()
    new = {}
    for key, t in sd.items():
        mapped = amtf.torch_name(key)
        if mapped is None:
            new[key] = t
            continue
        name, kind = mapped
        new[key] = torch.from_numpy(amtf.to_torch(kind, ours[name], t.shape))
    model.load_state_dict(new, strict=True)
    model.eval()
    return model, in_ch


# ---------------------------------------------------------------------------
# the tool's per-image path

def to_three_channels(image):
    if len(image.shape) == 2 or image.shape[2] == 1:
        image = np.stack((image,) * 3, axis=-1)
    elif len(image.shape) > 2 and image.shape[2] > 3:
        image = image[:, :, :3]
    return image


def read_and_resize_image(filepath, size):
    """prediction_process.py:40-74."""
    try:
        if os.path.splitext(filepath.lower())[1] in [".jpg", ".jpeg"]:
            with open(filepath, "rb") as infile:
                image = jpeg_decoder.decode(infile.read())
        else:
            image = np.array(Image.open(filepath))
        image = to_three_channels(image)
        if image.shape[:2] != tuple(size):
            if PIL_RESIZE:  # diagnostic only, not the tool's
                image = np.array(Image.fromarray(image).resize((size[1], size[0]), Image.BILINEAR))
            else:
                image = resize(image, size, anti_aliasing=True, preserve_range=True)
                image = image.astype(np.uint8)
        return image
    except Exception as e:  # the tool logs and scores a blank image
        print(f"error reading {filepath}: {e}", file=sys.stderr)
        return np.zeros((size[0], size[1], 3), dtype=np.uint8)


def decode_hdf5_item(image_data, size):
    """prediction_process_hdf5.py:43-70 (no resize)."""
    image_bytes = bytes(image_data)
    try:
        try:
            image = jpeg_decoder.decode(image_bytes)
        except Exception:
            import io
            image = np.array(Image.open(io.BytesIO(image_bytes)))
        return to_three_channels(image)
    except Exception as e:
        print(f"error decoding an HDF5 image: {e}", file=sys.stderr)
        return np.zeros((size[0], size[1], 3), dtype=np.uint8)


def predict(model, images):
    """prediction_utils.py:119-128."""
    with torch.no_grad():
        logits = model(images)
        scores = torch.nn.functional.softmax(logits, dim=-1)[:, 1].cpu().numpy()
    return scores, images.cpu().numpy()


# ---------------------------------------------------------------------------
# the tool's outputs

def save_results(out, save, all_scores, all_imgs, all_filenames, top_n):
    """prediction_utils.py:56-111."""
    csv_path = os.path.join(out, f"{save}_top{top_n}.csv")
    npy_path = os.path.join(out, f"{save}_top{top_n}.npy")
    npz_path = os.path.join(out, f"all_predictions_{save}.npz")
    if os.path.exists(npz_path):
        with np.load(npz_path, allow_pickle=True) as data:
            all_scores = np.concatenate([data["scores"], all_scores])
            all_filenames = np.concatenate([data["filenames"], all_filenames])
    top = np.argsort(all_scores)[::-1][:top_n]
    top_scores, top_filenames = all_scores[top], all_filenames[top]
    cur = np.argsort(all_scores[-len(all_imgs):])[::-1][:top_n]
    top_imgs = all_imgs[cur]
    pd.DataFrame({"Filename": top_filenames, "Score": top_scores}).to_csv(csv_path, index=False)
    np.save(npy_path, top_imgs)
    np.savez_compressed(npz_path, filenames=all_filenames, scores=all_scores)
    return top_scores, top_filenames, top_imgs


def existing_outputs(out, save, size):
    """prediction_process.py:148-196 (its existence check runs before the
    evaluation there; nothing else writes these paths in between)."""
    csv_path = os.path.join(out, f"{save}_top1000.csv")
    npy_path = os.path.join(out, f"{save}_top1000.npy")
    if os.path.exists(csv_path) and os.path.exists(npy_path):
        df = pd.read_csv(csv_path)
        ex_f, ex_s, ex_i = df["Filename"].values, df["Score"].values, np.load(npy_path)
    else:
        ex_f, ex_s = np.array([]), np.array([])
        ex_i = np.empty((0, 3, size[0], size[1]), dtype=np.float32)
    return ex_f, ex_s, ex_i


def write_merged(out, save, existing, scores, filenames, imgs, top_n):
    ex_f, ex_s, ex_i = existing
    all_f = np.concatenate([ex_f, filenames])
    all_s = np.concatenate([ex_s, scores])
    all_i = imgs if ex_i.size == 0 else np.concatenate([ex_i, imgs])
    top = np.argsort(all_s)[::-1][:top_n]
    # As in the tool, all_i can be shorter than all_s when OUT held earlier
    # results (the images kept are the current run's only): the indexing then
    # raises IndexError before anything is written (prediction_process.py:182).
    top_i = all_i[top]
    pd.DataFrame({"Filename": all_f[top], "Score": all_s[top]}).to_csv(
        os.path.join(out, f"{save}_top1000.csv"), index=False)
    np.save(os.path.join(out, f"{save}_top1000.npy"), top_i)


def write_scores_csv(path, filenames, scores):
    order = np.argsort(scores, kind="stable")[::-1]
    pd.DataFrame({"Filename": [os.path.basename(str(f)) for f in filenames[order]],
                  "Score": scores[order]}).to_csv(path, index=False, float_format="%.6f")


# ---------------------------------------------------------------------------
# runs

def list_dir(search_dir):
    """session.py:467-472."""
    files = []
    for f in os.listdir(search_dir):
        if os.path.splitext(f.lower())[1] in EXTENSIONS:
            files.append(os.path.join(search_dir, f))
    return files


def run_files(args, size, file_list=None):
    t = {}
    t0 = time.perf_counter()
    files = file_list if file_list is not None else list_dir(args.images)
    t["list"] = time.perf_counter() - t0
    existing = None
    if args.writes == "tool":
        existing = existing_outputs(args.out, args.save, size)

    t0 = time.perf_counter()
    transform = transforms.Compose([transforms.ToTensor()])

    def load_and_preprocess(fn):
        return fn, transform(read_and_resize_image(fn, size))

    with ThreadPoolExecutor(max_workers=args.workers) as ex:
        results = list(ex.map(load_and_preprocess, files))
    t["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    model, in_ch = load_model(args.model, size[0], args.true_same)
    t["model"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores_l, names_l, imgs_l = [], [], []
    for i in range(0, len(results), args.batch):
        batch = results[i:i + args.batch]
        images = torch.stack([b[1] for b in batch], dim=0)
        if in_ch != 3:  # an am model of other than 3 input channels: the tool has none
            images = images[:, :in_ch]
        s, im = predict(model, images)
        scores_l.append(s)
        names_l.extend(b[0] for b in batch)
        imgs_l.append(im)
    scores, imgs, names = np.concatenate(scores_l), np.concatenate(imgs_l), np.array(names_l)
    t["forward"] = time.perf_counter() - t0
    return finish(args, t, scores, names, imgs, existing, size)


def run_hdf5(args, size):
    import h5py

    t = {"list": 0.0, "load": 0.0, "forward": 0.0}
    transform = transforms.Compose([transforms.ToTensor()])
    existing = None
    if args.writes == "tool":
        existing = existing_outputs(args.out, args.save, size)
    with h5py.File(args.hdf5, "r") as h5f:
        t0 = time.perf_counter()
        dataset, fn_ds = h5f["images"], h5f["filenames"]
        n = len(dataset)
        t["list"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        model, in_ch = load_model(args.model, size[0], args.true_same)
        t["model"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        names = [f.decode("utf-8") if isinstance(f, bytes) else f for f in fn_ds[:]]
        t["list"] += time.perf_counter() - t0
        scores_l, imgs_l = [], []
        for b0 in range(0, n, args.batch):
            t0 = time.perf_counter()
            data = dataset[b0:min(b0 + args.batch, n)]
            with ThreadPoolExecutor(max_workers=args.workers) as ex:
                batch = list(ex.map(lambda d: transform(decode_hdf5_item(d, size)), data))
            t1 = time.perf_counter()
            images = torch.stack(batch, dim=0)
            if in_ch != 3:
                images = images[:, :in_ch]
            s, im = predict(model, images)
            scores_l.append(s)
            imgs_l.append(im)
            t2 = time.perf_counter()
            t["load"] += t1 - t0
            t["forward"] += t2 - t1
    scores, imgs = np.concatenate(scores_l), np.concatenate(imgs_l)
    return finish(args, t, scores, np.array(names), imgs, existing, size)


def finish(args, t, scores, names, imgs, existing, size):
    t0 = time.perf_counter()
    if args.writes == "tool":
        top_s, top_f, top_i = save_results(args.out, args.save, scores, imgs, names, args.top_n)
        write_merged(args.out, args.save, existing, top_s, top_f, top_i, args.top_n)
    else:
        write_scores_csv(os.path.join(args.out, "scores.csv"), names, scores)
    t["write"] = time.perf_counter() - t0
    if args.writes == "tool":
        write_scores_csv(os.path.join(args.out, "scores.csv"), names, scores)
    return t, scores, names


def run_gui(args, size):
    """The GUI's way (session.py:505-574 with prediction_file_type "image"): one
    whole prediction process per file of the directory, each given a one-line
    file list, all writing (and merging into) the same outputs."""
    files = list_dir(args.images)[:args.gui_files]
    tmp = tempfile.mkdtemp(prefix="am_gui_")
    base = [sys.executable, os.path.abspath(__file__), "--model", args.model, "--size", str(args.size),
            "--threads", str(args.threads), "--out", args.out, "--top-n", str(args.top_n)]
    if args.true_same:
        base.append("--true-same")
    failed = 0
    t0 = time.perf_counter()
    for fn in files:
        lst = os.path.join(tmp, "file_list.txt")
        with open(lst, "w") as f:
            f.write(fn)
        # the GUI does not check the exit status either (session.py:431)
        r = subprocess.run(base + ["--files-from", lst], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        failed += r.returncode != 0
    wall = time.perf_counter() - t0
    return len(files), wall, failed


def main():
    ap = argparse.ArgumentParser(description="AnomalyMatch v1.0's prediction path, timed, with an am model")
    ap.add_argument("--model", required=True, help="am weight file (.amw), lite0 with 2 classes")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help="directory of images (the GUI's search_dir)")
    src.add_argument("--files-from", help="a file list, one path a line (prediction_process.py's input)")
    src.add_argument("--hdf5", help="an HDF5 file in the tool's layout (prediction_process_hdf5.py)")
    ap.add_argument("--size", type=int, default=224, help="cfg.size side (default 224, the tool's)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch.set_num_threads")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--top-n", type=int, default=1000, help="top N kept (default 1000, the GUI's)")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default 1000; 2500 with --hdf5)")
    ap.add_argument("--workers", type=int, default=1, help="ThreadPoolExecutor workers (default 1, the tool's)")
    ap.add_argument("--writes", choices=["tool", "csv"], default="tool",
                    help="tool: the tool's CSV/npy/npz outputs (default); csv: only OUT/scores.csv")
    ap.add_argument("--save", default="model", help="cfg.save_file, the outputs' name stem")
    ap.add_argument("--true-same", action="store_true", help="TF SAME pads for --size, not the tool's 224")
    ap.add_argument("--resize", choices=["skimage", "pil"], default="skimage",
                    help="skimage: the tool's (default); pil: Pillow's antialiased bilinear, as am resizes "
                         "(a diagnostic for --compare, not the tool's path)")
    ap.add_argument("--gui-files", type=int, default=0,
                    help="time the GUI's one-process-per-file way on the first K images of --images instead")
    ap.add_argument("--compare", help="am's scores.csv (Filename,Score): print max/mean |diff| by basename")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    global PIL_RESIZE
    PIL_RESIZE = args.resize == "pil"
    if args.batch is None:
        args.batch = 2500 if args.hdf5 else 1000
    size = [args.size, args.size]  # cfg.size is a two-element list in the tool's TOML
    os.makedirs(args.out, exist_ok=True)

    if args.gui_files:
        if not args.images:
            raise SystemExit("--gui-files needs --images")
        n, wall, failed = run_gui(args, size)
        row = dict(impl="anomalymatch-gui-per-file", images=n, size=args.size, threads=args.threads,
                   wall_s=round(wall, 3), img_s=round(n / wall, 3), failed_runs=failed)
        print(json.dumps(row) if args.json else
              f"python GUI per-file: {n} images size={args.size} threads={args.threads} "
              f"{wall:.2f} s, {n / wall:.3f} img/s ({failed} of {n} runs exited non-zero, "
              f"as the tool's do from the second file on)")
        return

    if args.hdf5:
        t, scores, names = run_hdf5(args, size)
    else:
        fl = None
        if args.files_from:
            with open(args.files_from) as f:
                fl = [line.strip() for line in f]
        t, scores, names = run_files(args, size, fl)
    timed = t["list"] + t["load"] + t["forward"] + t["write"]
    n = len(scores)
    row = dict(impl="anomalymatch-v1.0-path", images=n, size=args.size, threads=args.threads,
               batch=args.batch, workers=args.workers, writes=args.writes, true_same=args.true_same,
               img_s=round(n / timed, 2), timed_s=round(timed, 4),
               **{f"{k}_s": round(v, 4) for k, v in t.items()},
               imports_s=round(T_IMPORTS, 3), process_s=round(time.perf_counter() - T_START, 3),
               torch=torch.__version__)
    if args.compare:
        am = pd.read_csv(args.compare)
        am_map = dict(zip(am["Filename"].map(lambda s: os.path.basename(str(s))), am["Score"]))
        mine = dict(zip((os.path.basename(str(f)) for f in names), scores))
        if not set(am_map) & set(mine):  # e.g. am scored the PNGs, this run the JPEGs: match stems
            am_map = {os.path.splitext(k)[0]: v for k, v in am_map.items()}
            mine = {os.path.splitext(k)[0]: v for k, v in mine.items()}
        common = sorted(set(am_map) & set(mine))
        d = np.array([abs(float(am_map[k]) - float(mine[k])) for k in common])
        row.update(compared=len(common), max_abs_diff=float(d.max()) if len(d) else None,
                   mean_abs_diff=float(d.mean()) if len(d) else None)
    if args.json:
        print(json.dumps(row))
    else:
        print(f"python AnomalyMatch-v1.0 path: {n} images size={args.size} threads={args.threads} "
              f"{row['img_s']:.1f} img/s (list {t['list']:.3f} s, load {t['load']:.3f} s, "
              f"forward {t['forward']:.3f} s, write {t['write']:.3f} s; not timed: imports "
              f"{T_IMPORTS:.2f} s, model {t['model']:.3f} s)")
        if args.compare:
            print(f"vs {args.compare}: {row['compared']} images, max |diff| {row['max_abs_diff']}, "
                  f"mean |diff| {row['mean_abs_diff']}")


if __name__ == "__main__":
    main()
