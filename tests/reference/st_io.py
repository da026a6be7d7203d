"""st_io.py — a tiny safetensors reader and writer (json + struct + numpy), because the Debian
PyTorch 1.13 we check against has no safetensors support.

Format: u64 little-endian header length N, N bytes of JSON
{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the raw
little-endian tensor bytes (offsets relative to the end of the header). Tensors are written
sorted by name, as Hugging Face does. This file must never depend on torch or on fedpep's C code:
it is one half of an independent check.
"""
import json
import struct

import numpy as np

_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "F16": np.dtype("<f2"),
           "I64": np.dtype("<i8"), "I32": np.dtype("<i4")}


def _bf16_to_f32(raw):
    """BF16 bytes -> float32 array (BF16 is the top half of an IEEE float32)."""
    u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
    return (u16 << 16).view(np.float32)


def f32_to_bf16_bits(a):
    """float32 array -> BF16 bit patterns (round to nearest even), as uint16."""
    u32 = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u32 + 0x7FFF + ((u32 >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def read(path):
    """Returns (tensors: dict name -> float32/int numpy array, metadata: dict)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError(f"{path}: header length {n} beyond the file")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        raw = data[begin:end]
        if end > len(data) or begin > end:
            raise ValueError(f"{path}: tensor {name} offsets outside the data")
        if info["dtype"] == "BF16":
            arr = _bf16_to_f32(raw)
        elif info["dtype"] in _DTYPES:
            arr = np.frombuffer(raw, dtype=_DTYPES[info["dtype"]])
            if arr.dtype == np.float16:
                arr = arr.astype(np.float32)
        else:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{path}: tensor {name} size does not match its shape")
        out[name] = arr.reshape(shape).copy()
    return out, meta


def write(path, tensors, metadata=None, dtype="F32"):
    """Writes dict name -> array. dtype F32 (default), F16 or BF16 applies to float tensors."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        if dtype == "BF16":
            raw = f32_to_bf16_bits(a).tobytes()
        elif dtype == "F16":
            raw = np.ascontiguousarray(a, dtype="<f2").tobytes()
        else:
            raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)  # HF pads the header to 8 bytes with spaces
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)
