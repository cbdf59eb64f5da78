"""amtf: reader/writer for the am tensor container (weights/FORMAT.md).

Writes and reads `.amw` (magic AMWT) and `.amg` (magic AMGD) files, provides the
`init:` hash fill rule used by the goldens, and the name/layout mapping between
the PyTorch EfficientNet state_dict keys (lukemelas-style `_conv_stem`,
`_blocks.N._depthwise_conv`, ...) and the engine's NHWC names (`stem.conv`,
`blocks.N.dw.conv`, ...). Pure numpy + stdlib; torch is not imported here.
Used by weights/convert_lite0.py and tests/ref/make_goldens.py.
"""

import re
import struct
import zlib

import numpy as np

VERSION = 1
NAME_BYTES = 64
ARCH_BYTES = 16
HEADER_BYTES = 4 + 4 + ARCH_BYTES + 4 + 4 + 4
ENTRY_BYTES = NAME_BYTES + 4 + 16


def write(path, magic, arch, in_ch, classes, tensors):
    """Write `tensors` (iterable of (name, array), kept in order) to `path`.

    Arrays are converted to little-endian float32, C order. Names must be ASCII,
    unique and at most 63 bytes (so the 64-byte field always ends in a NUL).
    """
    assert magic in (b"AMWT", b"AMGD"), magic
    arch_b = arch.encode("ascii")
    assert len(arch_b) < ARCH_BYTES, arch
    items = [(n, np.ascontiguousarray(a, dtype="<f4")) for n, a in tensors]
    names = [n for n, _ in items]
    assert len(set(names)) == len(names), "duplicate tensor names"
    head = bytearray()
    head += magic
    head += struct.pack("<I", VERSION)
    head += arch_b.ljust(ARCH_BYTES, b"\0")
    head += struct.pack("<III", in_ch, classes, len(items))
    for name, a in items:
        nb = name.encode("ascii")
        assert 0 < len(nb) < NAME_BYTES, name
        assert 1 <= a.ndim <= 4, (name, a.shape)
        assert all(d > 0 for d in a.shape), (name, a.shape)
        dims = list(a.shape) + [0] * (4 - a.ndim)
        head += nb.ljust(NAME_BYTES, b"\0")
        head += struct.pack("<IIIII", a.ndim, *dims)
    crc = zlib.crc32(head)
    with open(path, "wb") as f:
        f.write(head)
        for _, a in items:
            b = a.tobytes()
            crc = zlib.crc32(b, crc)
            f.write(b)
        f.write(struct.pack("<I", crc & 0xFFFFFFFF))


def read(path):
    """Read and validate a container (version 1, or version 2 with typed
    entries; magic AMWT, AMGD or AMCK). Returns a dict with keys magic,
    version, arch, in_ch, classes and tensors (a dict name -> array, file
    order: float32 arrays, bytes for text entries, uint64 arrays)."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < HEADER_BYTES + 4:
        raise ValueError(f"{path}: too short")
    magic = buf[0:4]
    if magic not in (b"AMWT", b"AMGD", b"AMCK"):
        raise ValueError(f"{path}: bad magic {magic!r}")
    (version,) = struct.unpack_from("<I", buf, 4)
    if version not in (1, 2):
        raise ValueError(f"{path}: unsupported version {version}")
    arch = buf[8:8 + ARCH_BYTES].split(b"\0", 1)[0].decode("ascii")
    in_ch, classes, count = struct.unpack_from("<III", buf, 8 + ARCH_BYTES)
    off = HEADER_BYTES
    entry = ENTRY_BYTES + (4 if version == 2 else 0)
    table = []
    for _ in range(count):
        if off + entry > len(buf):
            raise ValueError(f"{path}: truncated tensor table")
        name = buf[off:off + NAME_BYTES].split(b"\0", 1)[0].decode("ascii")
        fields = struct.unpack_from("<IIIIII" if version == 2 else "<IIIII", buf, off + NAME_BYTES)
        typ, (ndim, *dims) = (fields[0], fields[1:]) if version == 2 else (0, fields)
        if typ not in _TYPES or not 1 <= ndim <= 4 or any(dims[ndim:]) or \
                (typ != 1 and any(d == 0 for d in dims[:ndim])):
            raise ValueError(f"{path}: bad entry {name}: type {typ} shape {ndim} {dims}")
        table.append((name, typ, tuple(dims[:ndim])))
        off += entry
    tensors = {}
    for name, typ, shape in table:
        if version == 2:
            off = -(-off // 8) * 8
        dtype, size = _TYPES[typ]
        n = int(np.prod(shape))
        if off + size * n + 4 > len(buf):
            raise ValueError(f"{path}: truncated at {name}")
        if typ == 1:
            tensors[name] = bytes(buf[off:off + n])
        else:
            tensors[name] = np.frombuffer(buf, dtype=dtype, count=n, offset=off).reshape(shape).copy()
        off += size * n
    if off + 4 != len(buf):
        raise ValueError(f"{path}: size {len(buf)} != expected {off + 4}")
    (crc,) = struct.unpack_from("<I", buf, len(buf) - 4)
    if zlib.crc32(buf[:-4]) & 0xFFFFFFFF != crc:
        raise ValueError(f"{path}: CRC mismatch")
    return dict(magic=magic, version=version, arch=arch, in_ch=in_ch,
                classes=classes, tensors=tensors)


_TYPES = {0: ("<f4", 4), 1: ("u1", 1), 2: ("<u8", 8)}


# ---------------------------------------------------------------------------
# init: hash fill

def fnv1a32(name):
    s = 0x811C9DC5
    for byte in name.encode("ascii"):
        s = ((s ^ byte) * 0x01000193) & 0xFFFFFFFF
    return s


def hash_u32(name, count):
    """h(name, i) for i = 0..count-1 as a uint32 array (wrapping arithmetic)."""
    i = np.arange(count, dtype=np.uint32)
    x = i * np.uint32(0x9E3779B9) + np.uint32(fnv1a32(name))
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x85EBCA6B)
    x ^= x >> np.uint32(13)
    x *= np.uint32(0xC2B2AE35)
    x ^= x >> np.uint32(16)
    return x


def init_fill(name, shape, centre, half_width):
    """float32 array of `shape` (our layout, row-major) filled by the init: rule.
    centre and half_width are first rounded to float32, as they are stored in the
    golden's init:<name> tensor, so a reader of the file reproduces every element."""
    centre, half_width = float(np.float32(centre)), float(np.float32(half_width))
    n = int(np.prod(shape))
    u = (hash_u32(name, n) >> np.uint32(8)).astype(np.float64) * 2.0 ** -24
    v = float(centre) + float(half_width) * (2.0 * u - 1.0)
    return v.astype(np.float32).reshape(shape)


# ---------------------------------------------------------------------------
# PyTorch state_dict <-> engine names and layouts

_BN_FIELDS = {"weight": "gamma", "bias": "beta", "running_mean": "mean", "running_var": "var"}
_BLOCK_BN = {"_bn0": "expand.bn", "_bn1": "dw.bn", "_bn2": "project.bn"}
_TOP_BN = {"_bn0": "stem.bn", "_bn1": "head.bn"}


def torch_name(key):
    """Map a state_dict key to (our name, kind) where kind says how the layout
    changes: 'conv' (OIHW -> OHWI), 'pw' (O,I,1,1 -> O,I), 'dw' (E,1,k,k -> k,k,E)
    or 'same'. Returns None for keys that are dropped (num_batches_tracked).
    Raises KeyError for anything unknown."""
    if key.endswith(".num_batches_tracked"):
        return None
    m = re.fullmatch(r"(_bn[01])\.(\w+)", key)
    if m and m.group(1) in _TOP_BN and m.group(2) in _BN_FIELDS:
        return f"{_TOP_BN[m.group(1)]}.{_BN_FIELDS[m.group(2)]}", "same"
    if key == "_conv_stem.weight":
        return "stem.conv", "conv"
    if key == "_conv_head.weight":
        return "head.conv", "pw"
    if key == "_fc.weight":
        return "fc.w", "same"
    if key == "_fc.bias":
        return "fc.b", "same"
    m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if m:
        n, mod, field = m.groups()
        p = f"blocks.{int(n)}."
        if mod in _BLOCK_BN and field in _BN_FIELDS:
            return p + f"{_BLOCK_BN[mod]}.{_BN_FIELDS[field]}", "same"
        if field == "weight" and mod == "_expand_conv":
            return p + "expand.conv", "pw"
        if field == "weight" and mod == "_depthwise_conv":
            return p + "dw.conv", "dw"
        if field == "weight" and mod == "_project_conv":
            return p + "project.conv", "pw"
        if mod in ("_se_reduce", "_se_expand"):
            sub = "se.reduce" if mod == "_se_reduce" else "se.expand"
            if field == "weight":
                return p + sub + ".w", "pw"
            if field == "bias":
                return p + sub + ".b", "same"
    raise KeyError(f"unmapped state_dict key: {key}")


def to_ours(kind, a):
    """Torch-layout numpy array -> our layout (a copy, C-contiguous)."""
    if kind == "conv":
        assert a.ndim == 4, a.shape
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1))
    if kind == "pw":
        assert a.ndim == 4 and a.shape[2:] == (1, 1), a.shape
        return np.ascontiguousarray(a.reshape(a.shape[0], a.shape[1]))
    if kind == "dw":
        assert a.ndim == 4 and a.shape[1] == 1, a.shape
        return np.ascontiguousarray(a[:, 0].transpose(1, 2, 0))
    assert kind == "same", kind
    return np.ascontiguousarray(a)


def to_torch(kind, a, torch_shape):
    """Our-layout numpy array -> torch layout with shape `torch_shape`."""
    torch_shape = tuple(torch_shape)
    if kind == "conv":
        out = a.transpose(0, 3, 1, 2)
    elif kind == "pw":
        out = a.reshape(a.shape[0], a.shape[1], 1, 1)
    elif kind == "dw":
        out = a.transpose(2, 0, 1)[:, None]
    else:
        out = a
    assert out.shape == torch_shape, (kind, a.shape, torch_shape)
    return np.ascontiguousarray(out)


def our_shape(kind, torch_shape):
    s = tuple(torch_shape)
    if kind == "conv":
        return (s[0], s[2], s[3], s[1])
    if kind == "pw":
        return (s[0], s[1])
    if kind == "dw":
        return (s[2], s[3], s[0])
    return s
