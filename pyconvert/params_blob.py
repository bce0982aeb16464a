"""Parameter blobs on the host: the same bytes the device writes (runtime_c mt_persist.h).

    blob = to_blob(meta, params, sequence=1)      # {PyTorch name: array} -> bytes
    params, sequence = from_blob(meta, blob)      # bytes -> {PyTorch name: array}

`meta` is a converted model's model.json (trainable models only): it lists the
trainable parameters in the order of mt_model.params, with their device shapes and
layouts. The model hash in the header is `params_hash(meta)`, the same number the
generated header defines as <NAME>_PARAMS_HASH, so a blob never loads into a model
with a different parameter layout. Errors name the check that failed, with the
runtime's status names.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

MAGIC = b"MTP1"
VERSION = 1
HEADER = 24


class BlobError(ValueError):
    pass


def params_hash(meta: dict) -> int:
    """32-bit hash of the parameter layout: names, device shapes and layouts, in order."""
    layout = [(p["name"], list(p["device_shape"]), list(p["layout"])) for p in meta["train"]["params"]]
    return zlib.crc32(json.dumps(layout, separators=(",", ":")).encode())


def _layouts(meta: dict) -> list:
    if "train" not in meta:
        raise BlobError(f"model '{meta.get('name')}' was converted without --train: no parameters to store")
    return meta["train"]["params"]


def to_blob(meta: dict, params: dict, sequence: int = 1) -> bytes:
    """Serialise {name: value in PyTorch layout} (every trainable parameter) into a blob."""
    from .lower import to_device_layout
    words = []
    for p in _layouts(meta):
        if p["name"] not in params:
            raise BlobError(f"parameter {p['name']!r} is missing (the blob holds every trainable one)")
        dev = to_device_layout(np.asarray(params[p["name"]], np.float32), p["layout"])
        if tuple(dev.shape) != tuple(p["device_shape"]):
            raise BlobError(f"parameter {p['name']!r}: shape {np.shape(params[p['name']])} does not "
                            f"fit the model")
        words.append(np.ascontiguousarray(dev, "<f4").reshape(-1))
    payload = np.concatenate(words).tobytes() if words else b""
    head = MAGIC + struct.pack("<HHIII", VERSION, HEADER, params_hash(meta), len(payload), sequence)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + struct.pack("<I", crc) + payload


def from_blob(meta: dict, blob: bytes) -> tuple:
    """Check a blob exactly as mt_params_import does and return (params, sequence)."""
    from .lower import to_source_layout
    layouts = _layouts(meta)
    if len(blob) < HEADER:
        raise BlobError(f"blob truncated: {len(blob)} bytes, the header alone is {HEADER}")
    if blob[:4] != MAGIC:
        raise BlobError("not a parameter blob (bad magic)")
    version, header, model, payload_bytes, sequence, crc = struct.unpack("<HHIIII", blob[4:HEADER])
    if version != VERSION or header != HEADER:
        raise BlobError(f"unknown blob version {version} (this pyconvert reads version {VERSION})")
    if model != params_hash(meta):
        raise BlobError(f"blob of another model (hash {model:#010x}, this model's is "
                        f"{params_hash(meta):#010x})")
    if len(blob) < HEADER + payload_bytes:
        raise BlobError(f"blob truncated: {len(blob)} bytes, its header says {HEADER + payload_bytes}")
    expected = 4 * sum(int(np.prod(p["device_shape"])) for p in layouts)
    if payload_bytes != expected:
        raise BlobError(f"blob of another model ({payload_bytes} payload bytes, expected {expected})")
    payload = blob[HEADER:HEADER + payload_bytes]
    if zlib.crc32(payload, zlib.crc32(blob[:20])) != crc:
        raise BlobError("blob CRC mismatch: its contents changed since it was written")
    params, at = {}, 0
    for p in layouts:
        n = int(np.prod(p["device_shape"]))
        value = np.frombuffer(payload, "<f4", count=n, offset=at).reshape(p["device_shape"])
        params[p["name"]] = to_source_layout(value.astype(np.float32), p["layout"])
        at += 4 * n
    return params, sequence
