"""A mutation fuzzer for every file loader: valid seed files, mutated, loaded in-process.

Each target makes a valid seed file (generated here, nothing downloaded), mutates it
(bit flips, truncations, byte insertions and deletions, header fields overwritten with
huge values, and target-specific token swaps such as ``nan`` in a CSV or an object
dtype in a .npy header), writes it, and calls the loader. The only allowed outcomes are
a successful load or an :class:`engine.errors.EBMError`; anything else is a crash. Every
input runs under a wall-clock bound (a SIGALRM timer where available, and the measured
time), so a loader that hangs is reported instead of stalling the run.

Used by ``tests/reliability/test_fuzz_loaders.py`` (a few hundred inputs per target) and
``tools/fuzz_loaders.py`` (thousands).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import pickle
import re
import resource
import signal
import struct
import threading
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import EBMError

HUGE_VALUES = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFF, 0x10000, 10**9, (1 << 63) - 1, (1 << 64) - 1)
TIME_LIMIT = 10.0  # s per input: normal loads take milliseconds, so this only catches hangs


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that a loader's ``except Exception`` cannot eat it."""


@dataclass
class Field:
    """A header field to overwrite: byte offset (negative: from the end), width, byte order."""

    offset: int
    width: int
    order: str = "big"


@dataclass
class Target:
    """One loader: a seed file, how to place bytes on disk, how to load them."""

    name: str
    seed: Callable[[Path], bytes]  # the valid file's bytes (given a scratch folder)
    load: Callable[[Path], Any]  # the loader, given the placed path
    filename: str = "data.bin"
    fields: Callable[[bytes], list[Field]] = lambda data: []
    tokens: list[tuple[bytes, list[bytes]]] = field(default_factory=list)  # (found, replacements)
    structured: Callable[[np.random.Generator, bytes], tuple[bytes, str]] | None = None  # parse-mutate-rebuild
    encode: Callable[[bytes], bytes] = lambda data: data  # applied after mutating (e.g. gzip)
    fixup: Callable[[bytes], bytes] = lambda data: data  # e.g. recompute PNG CRCs
    place: Callable[[Path, str, bytes], Path] | None = None  # writes the file(s); default: one file
    weights: tuple[float, float, float] = (0.2, 0.15, 0.25)  # structured, field, token (bytes: the rest)


@dataclass
class Outcome:
    kind: str  # "ok", "refused" (an EBMError), "crash", "hang"
    seconds: float
    message: str = ""
    mutation: str = ""


@dataclass
class Summary:
    target: str
    inputs: int = 0
    ok: int = 0
    refused: Counter = field(default_factory=Counter)  # message kind -> count
    crashes: list[tuple[str, str]] = field(default_factory=list)  # (mutation, traceback)
    hangs: list[tuple[str, float]] = field(default_factory=list)
    slowest: float = 0.0

    def add(self, out: Outcome) -> None:
        self.inputs += 1
        self.slowest = max(self.slowest, out.seconds)
        if out.kind == "ok":
            self.ok += 1
        elif out.kind == "refused":
            self.refused[message_kind(out.message)] += 1
        elif out.kind == "hang":
            self.hangs.append((out.mutation, out.seconds))
        else:
            self.crashes.append((out.mutation, out.message))


def message_kind(message: str) -> str:
    """A message with its file names and numbers blanked, cut short: what kind of refusal it is."""
    text = re.sub(r"(?<![\w/])/[^\s:,'\"()\[\]/]+(/[^\s:,'\"()\[\]/]+)+", "<file>", message)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    text = re.sub(r"0x[0-9A-Fa-f]+|\d+(\.\d+)?(e[-+]?\d+)?", "N", text)
    text = re.sub(r"\((\w+(Error|Exception|Warning)):[^)]*\)?", r"(\1)", text)  # a library's wording: its type
    return text[:90]


# --- mutations ---------------------------------------------------------------------------------

def _bitflip(rng: np.random.Generator, data: bytes) -> tuple[bytes, str]:
    if not data:
        return data, "bitflip(empty)"
    buf = bytearray(data)
    k = int(rng.integers(1, 9))
    for _ in range(k):
        i = int(rng.integers(len(buf)))
        buf[i] ^= 1 << int(rng.integers(8))
    return bytes(buf), f"bitflip x{k}"


def _truncate(rng: np.random.Generator, data: bytes) -> tuple[bytes, str]:
    n = int(rng.integers(0, max(len(data), 1)))
    return data[:n], f"truncate to {n}"


def _insert(rng: np.random.Generator, data: bytes) -> tuple[bytes, str]:
    i = int(rng.integers(0, len(data) + 1))
    k = int(rng.integers(1, 33))
    junk = rng.integers(0, 256, size=k, dtype=np.uint8).tobytes()
    return data[:i] + junk + data[i:], f"insert {k} at {i}"


def _delete(rng: np.random.Generator, data: bytes) -> tuple[bytes, str]:
    if not data:
        return data, "delete(empty)"
    i = int(rng.integers(0, len(data)))
    k = int(rng.integers(1, 65))
    return data[:i] + data[i + k:], f"delete {k} at {i}"


def _duplicate(rng: np.random.Generator, data: bytes) -> tuple[bytes, str]:
    if not data:
        return data, "duplicate(empty)"
    i = int(rng.integers(0, len(data)))
    k = int(rng.integers(1, 257))
    return data[:i + k] + data[i:i + k] + data[i + k:], f"duplicate {k} at {i}"


def _overwrite_field(rng: np.random.Generator, data: bytes, fields: list[Field]) -> tuple[bytes, str]:
    if not fields:
        return _bitflip(rng, data)
    f = fields[int(rng.integers(len(fields)))]
    choices = [v for v in HUGE_VALUES if v < 1 << (8 * f.width)] + [len(data) * 1000 % (1 << (8 * f.width))]
    value = choices[int(rng.integers(len(choices)))]
    start = f.offset if f.offset >= 0 else len(data) + f.offset
    if not 0 <= start <= len(data) - f.width:
        return _bitflip(rng, data)
    raw = value.to_bytes(f.width, f.order)
    return data[:start] + raw + data[start + f.width:], f"field@{f.offset}/{f.width} = {value}"


def _swap_token(rng: np.random.Generator, data: bytes, tokens: list[tuple[bytes, list[bytes]]]) -> tuple[bytes, str]:
    present = [(t, r) for t, r in tokens if t in data]
    if not present:
        return _insert(rng, data)
    found, replacements = present[int(rng.integers(len(present)))]
    starts = [m.start() for m in re.finditer(re.escape(found), data)]
    at = starts[int(rng.integers(len(starts)))]
    new = replacements[int(rng.integers(len(replacements)))]
    return data[:at] + new + data[at + len(found):], f"token {found[:20]!r} -> {new[:30]!r}"


def mutate(rng: np.random.Generator, target: Target, seed: bytes) -> tuple[bytes, str]:
    """One to three stacked mutations of ``seed``; returns (bytes, what was done)."""
    data, done = seed, []
    w_struct, w_field, w_token = target.weights
    for _ in range(int(rng.integers(1, 4))):
        r = float(rng.random())
        if target.structured is not None and r < w_struct:
            data, what = target.structured(rng, data)
        elif r < w_struct + w_field:
            data, what = _overwrite_field(rng, data, target.fields(data))
        elif r < w_struct + w_field + w_token and target.tokens:
            data, what = _swap_token(rng, data, target.tokens)
        else:
            op = (_bitflip, _truncate, _insert, _delete, _duplicate)[int(rng.integers(5))]
            data, what = op(rng, data)
        done.append(what)
    return target.fixup(target.encode(data)), "; ".join(done)


# --- running -----------------------------------------------------------------------------------

@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Hang in the main thread after ``seconds`` (a no-op elsewhere: the caller measures)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def memory_limit(extra_bytes: int) -> Iterator[None]:
    """Cap the address space at its current size + ``extra_bytes`` (Linux), so a loader that
    trusts a huge declared size fails with MemoryError (a crash we report) instead of
    eating the machine. Restored afterwards."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        current = _vm_size()
    except (OSError, ValueError, AttributeError):
        yield
        return
    limit = current + extra_bytes
    if not current or (hard != resource.RLIM_INFINITY and limit > hard):
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_one(target: Target, data: bytes, workdir: Path, mutation: str = "",
            limit: float = TIME_LIMIT) -> Outcome:
    """Place ``data`` and load it once; classify what happened."""
    path = (target.place or _place_file)(workdir, target.filename, data)
    start = time.perf_counter()
    try:
        with time_limit(limit):
            target.load(path)
    except Hang:
        return Outcome("hang", time.perf_counter() - start, "", mutation)
    except EBMError as exc:
        out = Outcome("refused", time.perf_counter() - start, str(exc), mutation)
    except Exception:  # noqa: BLE001 - that is what we are looking for
        return Outcome("crash", time.perf_counter() - start, traceback.format_exc(), mutation)
    else:
        out = Outcome("ok", time.perf_counter() - start, "", mutation)
    if out.seconds > limit:  # the alarm could not fire (not the main thread): measured instead
        return Outcome("hang", out.seconds, "", mutation)
    return out


def _place_file(workdir: Path, name: str, data: bytes) -> Path:
    path = workdir / name
    path.write_bytes(data)
    return path


def fuzz(target: Target, n: int, seed: int, workdir: Path, *, limit: float = TIME_LIMIT,
         memory_headroom: int = 2 << 30) -> Summary:
    """``n`` mutated inputs of ``target`` (the seed file itself first); a Summary of outcomes."""
    workdir.mkdir(parents=True, exist_ok=True)
    seed_bytes = target.seed(workdir)
    rng = np.random.default_rng([seed, zlib.crc32(target.name.encode())])
    summary = Summary(target.name)
    with memory_limit(memory_headroom):
        out = run_one(target, target.fixup(target.encode(seed_bytes)), workdir, "seed", limit)
        if out.kind != "ok":
            raise AssertionError(f"{target.name}: the valid seed file did not load: {out.kind} {out.message}")
        summary.add(out)
        for _ in range(n - 1):
            data, what = mutate(rng, target, seed_bytes)
            summary.add(run_one(target, data, workdir, what, limit))
    return summary


# --- seed files ----------------------------------------------------------------------------------

def _idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _idx_images_seed(_: Path) -> bytes:
    return _idx_bytes(np.random.default_rng(0).integers(0, 256, (5, 6, 7), dtype=np.uint8), 0x803)


def _idx_labels_seed(_: Path) -> bytes:
    return _idx_bytes(np.random.default_rng(1).integers(0, 10, 5, dtype=np.uint8), 0x801)


def _idx_fields(data: bytes) -> list[Field]:
    return [Field(o, 4) for o in (0, 4, 8, 12)] + [Field(2, 1), Field(3, 1)]


def _gzip_fields(data: bytes) -> list[Field]:
    return [Field(-4, 4, "little"), Field(-8, 4, "little"), Field(3, 1), Field(2, 1)]


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _cifar_binary_seed(_: Path) -> bytes:
    rng = np.random.default_rng(2)
    recs = [bytes([int(rng.integers(10))]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes() for _ in range(3)]
    return b"".join(recs)


def _cifar_batch() -> dict:
    rng = np.random.default_rng(3)
    return {b"batch_label": b"training batch 1 of 5", b"labels": [int(v) for v in rng.integers(0, 10, 4)],
            b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"filenames": [b"a.png"] * 4}


PICKLE_GLOBALS = [b"cos\nsystem\n", b"cbuiltins\neval\n", b"cbuiltins\nexec\n", b"csubprocess\nPopen\n",
                  b"cnumpy\nload\n", b"cnumpy.core.multiarray\n_reconstruct\n"]


def _pickle_tokens() -> list[tuple[bytes, list[bytes]]]:
    return [(b"numpy", [b"posix", b"os\x00\x00\x00", b"builtins"]), (b"_reconstruct", [b"system\x00\x00\x00\x00\x00\x00"]),
            (b"ndarray", [b"getattr", b"eval\x00\x00\x00"]), (b"\x94", PICKLE_GLOBALS),
            (b"labels", [b"data\x00\x00", b"fine_labels"]), (b"data", [b"labs"])]


def _npy_seed(arr: np.ndarray) -> Callable[[Path], bytes]:
    def make(_: Path) -> bytes:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return buf.getvalue()
    return make


NPY_TOKENS: list[tuple[bytes, list[bytes]]] = [
    (b"'descr': '", [b"'descr': '|O', 'x': '", b"'descr': [('a', '|O')], 'x': '", b"'descr': '<U4', 'x': '",
                     b"'descr': '<c16', 'x': '", b"'descr': '>f8', 'x': '", b"'descr': '|V8', 'x': '",
                     b"'descr': '<M8[s]', 'x': '", b"'descr': '<f2', 'x': '", b"'descr': '|b1', 'x': '"]),
    (b"'shape': (", [b"'shape': (4000000000, ", b"'shape': (99999999999999999999, ", b"'shape': (-1, ",
                     b"'shape': (0, ", b"'shape': (1, 1, 1, 1, 1, ", b"'shape': (", b"'shape': ((), "]),
    (b"False", [b"True", b"None", b"0"]),
    (b"}", [b"} ", b"", b"{", b"__import__('os')"]),
    (b"\x93NUMPY\x01\x00", [b"\x93NUMPY\x02\x00", b"\x93NUMPY\x03\x00", b"\x93NUMPY\x09\x00"]),
]


def _npz_seed(compressed: bool) -> Callable[[Path], bytes]:
    def make(_: Path) -> bytes:
        rng = np.random.default_rng(4)
        buf = io.BytesIO()
        save = np.savez_compressed if compressed else np.savez
        save(buf, x=rng.integers(0, 256, (4, 6, 6), dtype=np.uint8), y=np.arange(4, dtype=np.int64))
        return buf.getvalue()
    return make


def _zip_fields(data: bytes) -> list[Field]:
    out: list[Field] = []
    for m in re.finditer(re.escape(b"PK\x03\x04"), data):
        o = m.start()
        out += [Field(o + 6, 2, "little"), Field(o + 8, 2, "little"), Field(o + 18, 4, "little"),
                Field(o + 22, 4, "little"), Field(o + 26, 2, "little"), Field(o + 28, 2, "little")]
    for m in re.finditer(re.escape(b"PK\x01\x02"), data):
        o = m.start()
        out += [Field(o + 10, 2, "little"), Field(o + 20, 4, "little"), Field(o + 24, 4, "little"),
                Field(o + 28, 2, "little"), Field(o + 42, 4, "little"), Field(o + 8, 2, "little")]
    for m in re.finditer(re.escape(b"PK\x05\x06"), data):
        o = m.start()
        out += [Field(o + 10, 2, "little"), Field(o + 12, 4, "little"), Field(o + 16, 4, "little")]
    return out


def _points_csv_seed(_: Path) -> bytes:
    rng = np.random.default_rng(5)
    rows = "\n".join(f"{a:.4f},{b:.4f}" for a, b in rng.normal(size=(12, 2)))
    return f"# two blobs\nx,y\n{rows}\n".encode()


CSV_TOKENS: list[tuple[bytes, list[bytes]]] = [
    (b"0.", [b"nan.", b"inf", b"-inf", b"1e999", b"1e40", b"", b"abc", b'"', b"0x1.", b"\x00", b"\xff\xfe"]),
    (b",", [b";", b"\t", b" ", b",,", b",\n", b""]),
    (b"\n", [b"\r\n", b"\n\n", b"\n#", b"\nx,y,z\n", b"\n1,2,3\n", b"\r"]),
    (b"x,y", [b"x", b"x,y,z", b"", b"1,2", b"\xef\xbb\xbfx,y"]),
]


def _metrics_seed(_: Path) -> bytes:
    from engine.metrics import CurveLog

    log = CurveLog()
    for it in range(1, 6):
        log.append(it, loss=0.5 / it, e_pos=-1.0 * it, lr=1e-3)
    log.append(5, nll=2.5)
    return log.to_csv().encode()


def _read_metrics(path: Path) -> Any:
    from engine.metrics import CurveLog

    return CurveLog.read_csv(path)


def _toml_seed(_: Path) -> bytes:
    from engine.training.config import dumps_config, load_config

    preset = Path(__file__).resolve().parents[2] / "resources" / "presets" / "digits_convnet.toml"
    return dumps_config(load_config(preset)).encode()


TOML_TOKENS: list[tuple[bytes, list[bytes]]] = [
    (b"= ", [b"= nan #", b"= inf #", b"= -inf #", b"= 1e999 #", b"= 99999999999999999999 #", b"= -1 #",
             b"= 0 #", b"= true #", b"= \"x\" #", b"= [] #", b"= {} #", b"= [[1]] #", b"= 1979-05-27 #",
             b"= 9223372036854775807 #", b"= [nan, inf] #", b"= \"\\u0000\" #"]),
    (b"[", [b"[[", b"[x.", b"", b"[train]\n["]),
    (b"\n", [b"\nunknown = 1\n", b"\n[train]\n", b"\n\"\"\"", b"\n= 1\n", b"\x00"]),
    (b"\"", [b"'", b"\"\"\"", b""]),
]


def _tiny_net() -> Any:
    from engine.models import EnergyNet

    arch = {"input_shape": [2], "layers": [{"type": "linear", "in_features": 2, "out_features": 8},
                                           {"type": "swish"},
                                           {"type": "linear", "in_features": 8, "out_features": 1,
                                            "spectral_norm": True}]}
    return EnergyNet(arch, seed=0)


def _model_seed(workdir: Path) -> bytes:
    from engine.models.io import save_model

    path = workdir / "seed.safetensors"
    save_model(path, _tiny_net())
    return path.read_bytes()


def _safetensors_split(data: bytes) -> tuple[dict, bytes] | None:
    if len(data) < 8:
        return None
    n = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8:8 + n])
    except (ValueError, UnicodeDecodeError):
        return None
    return (header, data[8 + n:]) if isinstance(header, dict) else None


def _safetensors_join(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header, separators=(",", ":")).encode()
    return len(raw).to_bytes(8, "little") + raw + body


_JSON_WEIRD = [None, True, -1, 0, 10**9, 2**40, 2**63, 1e308, "x", "", [], {}, [[1]], [10**9, 10**9]]
_DTYPES = ["F32", "F64", "F16", "BF16", "I64", "I8", "U8", "BOOL", "F8_E4M3", "XX"]


def _mutate_json(rng: np.random.Generator, obj: Any, depth: int = 0) -> Any:
    """A copy of ``obj`` with one random leaf (or key) changed to something strange."""
    if isinstance(obj, dict) and obj and depth < 8:
        keys = list(obj)
        k = keys[int(rng.integers(len(keys)))]
        out = dict(obj)
        r = float(rng.random())
        if r < 0.1:
            del out[k]
        elif r < 0.15:
            out[k + "_x"] = out.pop(k)
        else:
            out[k] = _mutate_json(rng, obj[k], depth + 1)
        return out
    if isinstance(obj, list) and obj and depth < 8:
        i = int(rng.integers(len(obj)))
        out = list(obj)
        if rng.random() < 0.1:
            del out[i]
        else:
            out[i] = _mutate_json(rng, obj[i], depth + 1)
        return out
    if isinstance(obj, str) and obj[:1] in "{[" and rng.random() < 0.8:
        try:  # a JSON document inside a string (the architecture, checkpoint metadata)
            return json.dumps(_mutate_json(rng, json.loads(obj), depth + 1))
        except ValueError:
            pass
    if isinstance(obj, (int, float)) and not isinstance(obj, bool) and rng.random() < 0.6:
        return [obj * 1000, -obj, obj + 1, 10**12, 0, 2**64, obj * 0.5][int(rng.integers(7))]
    return _JSON_WEIRD[int(rng.integers(len(_JSON_WEIRD)))]


def _mutate_safetensors_header(rng: np.random.Generator, header: dict) -> tuple[dict, str]:
    """Change one thing a safetensors header says: a tensor's dtype, shape or offsets, or one
    metadata string (JSON inside it is mutated as JSON, so it stays a string)."""
    out = dict(header)
    meta = dict(out.get("__metadata__") or {})
    tensors = [k for k in out if k != "__metadata__"]
    if meta and (not tensors or rng.random() < 0.6):
        key = list(meta)[int(rng.integers(len(meta)))]
        value = meta[key]
        try:
            new = json.dumps(_mutate_json(rng, json.loads(value)))
        except ValueError:
            new = ["", "x", "ebm-studio-model", "2", "float16", "{}"][int(rng.integers(6))]
        meta[key] = new
        out["__metadata__"] = meta
        return out, f"metadata {key}"
    if not tensors:
        return out, "nothing"
    name = tensors[int(rng.integers(len(tensors)))]
    info = dict(out[name])
    part = ["dtype", "shape", "data_offsets", "rename", "drop"][int(rng.integers(5))]
    if part == "dtype":
        info["dtype"] = _DTYPES[int(rng.integers(len(_DTYPES)))]
    elif part == "shape":
        info["shape"] = _mutate_json(rng, list(info["shape"]) or [1])
    elif part == "data_offsets":
        info["data_offsets"] = _mutate_json(rng, list(info["data_offsets"]))
    if part == "rename":
        out[name + "x"] = out.pop(name)
    elif part == "drop":
        del out[name]
    else:
        out[name] = info
    return out, f"tensor {name} {part}"


def _safetensors_structured(rng: np.random.Generator, data: bytes) -> tuple[bytes, str]:
    """A header change (rebuilt with the right length) or bit flips in the tensor bytes only."""
    parts = _safetensors_split(data)
    if parts is None:
        return _bitflip(rng, data)
    header, body = parts
    if rng.random() < 0.3 and body:
        flipped, what = _bitflip(rng, body)
        return _safetensors_join(header, flipped), f"body {what}"
    new, what = _mutate_safetensors_header(rng, header)
    return _safetensors_join(new, body), what


SAFETENSORS_TOKENS: list[tuple[bytes, list[bytes]]] = [
    (b"F32", [b"F64", b"F16", b"I64", b"U8", b"BOOL", b"XX3"]),
]


def _load_model(path: Path) -> Any:
    from engine.models.io import load_model

    return load_model(path)


def _png_seed(_: Path) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(6)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _png_fields(data: bytes) -> list[Field]:
    return [Field(16, 4), Field(20, 4), Field(24, 1), Field(25, 1), Field(8, 4)]


def png_fix_crcs(data: bytes) -> bytes:
    """Recompute every chunk CRC, so a mutated field reaches the decoder instead of a CRC error."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    out, i = bytearray(data[:8]), 8
    while i + 8 <= len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        end = i + 8 + n
        if end + 4 > len(data):
            out += data[i:]
            return bytes(out)
        chunk = data[i + 4:end]
        out += data[i:end] + zlib.crc32(chunk).to_bytes(4, "big")
        i = end + 4
    out += data[i:]
    return bytes(out)


def _bmp_seed(_: Path) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (10, 9), dtype=np.uint8)).save(buf, format="BMP")
    return buf.getvalue()


def _bmp_fields(data: bytes) -> list[Field]:
    return [Field(18, 4, "little"), Field(22, 4, "little"), Field(10, 4, "little"), Field(28, 2, "little"),
            Field(30, 4, "little"), Field(2, 4, "little")]


def _jpeg_seed(_: Path) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(8).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def _jpeg_fields(data: bytes) -> list[Field]:
    i = data.find(b"\xff\xc0")
    return [Field(i + 5, 2), Field(i + 7, 2)] if i >= 0 else []


def _gif_seed(_: Path) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(9).integers(0, 256, (10, 12), dtype=np.uint8)).save(buf, format="GIF")
    return buf.getvalue()


def _gif_fields(data: bytes) -> list[Field]:
    return [Field(6, 2, "little"), Field(8, 2, "little")]


def _load_texture(path: Path) -> Any:
    from engine.data.images import load_texture_crops

    return load_texture_crops(path, n=2, size=4, rng=0, mode="rgb")


def _place_in_folder(workdir: Path, name: str, data: bytes) -> Path:
    """A class folder layout with two good images and the mutated one."""
    from PIL import Image

    root = workdir / "folder"
    for cls in ("cats", "dogs"):
        (root / cls).mkdir(parents=True, exist_ok=True)
    good = root / "cats" / "good.png"
    if not good.exists():
        Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(good)
        Image.fromarray(np.full((9, 7), 30, np.uint8)).save(root / "dogs" / "good.png")
    (root / "dogs" / name).write_bytes(data)
    return root


def _load_folder(path: Path) -> Any:
    from engine.data.images import load_image_folder

    return load_image_folder(path, size=6, mode="gray")


# --- experiment folders: a run whose newest checkpoint is mutated ------------------------------

_RUN_CACHE: dict[str, Any] = {}


def _run_config() -> Any:
    from engine.training.config import ExperimentConfig

    layers = [{"type": "linear", "in_features": 2, "out_features": 8}, {"type": "swish"},
              {"type": "linear", "in_features": 8, "out_features": 1}]
    return ExperimentConfig(name="fuzz").replace(
        data={"name": "8gaussians", "n": 256}, model={"preset": "", "layers": layers},
        sampler={"n_steps": 2}, buffer={"capacity": 64},
        train={"iterations": 4, "batch_size": 16, "backend": "numpy", "eval_every": 10**6,
               "samples_every": 10**6, "checkpoint_every": 1})


def _checkpoint_seed(workdir: Path) -> bytes:
    from engine.training.factory import build_data
    from engine.training.trainer import Trainer

    config = _run_config()
    data = build_data(config)
    src = workdir / "seed-run"
    if not src.exists():
        list(Trainer(config, src, data=data).run(2))
    _RUN_CACHE.update(config=config, data=data)
    return sorted((src / "checkpoints").glob("ckpt-*.safetensors"))[-1].read_bytes()


def _place_checkpoint(workdir: Path, name: str, data: bytes) -> Path:
    from engine.fileio import atomic_write_text
    from engine.training.config import dumps_config

    run = workdir / "run"
    ckpts = run / "checkpoints"
    if ckpts.exists():
        for p in ckpts.iterdir():
            p.unlink()
    ckpts.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run / "config.toml", dumps_config(_RUN_CACHE["config"]))
    (ckpts / "ckpt-00000002.safetensors").write_bytes(data)
    return run


def _resume_and_step(path: Path) -> Any:
    """Reopen the run folder (as --resume and the GUI do) and train one iteration."""
    from engine.training.config import load_config
    from engine.training.trainer import Trainer

    trainer = Trainer(load_config(path / "config.toml"), path, resume=True, data=_RUN_CACHE["data"])
    trainer.step()
    return trainer


# --- the targets -------------------------------------------------------------------------------

def _loader(module: str, name: str, *args: Any, **kwargs: Any) -> Callable[[Path], Any]:
    """``module.name(path, *args, **kwargs)``, imported on first use."""
    def load(path: Path) -> Any:
        import importlib

        return getattr(importlib.import_module(module), name)(path, *args, **kwargs)
    return load


def targets() -> dict[str, Target]:
    """Every loader the app offers, by name."""
    rng = np.random.default_rng(10)
    images_u8 = rng.integers(0, 256, (4, 8, 8), dtype=np.uint8)
    images_f = rng.random((3, 1, 6, 6)).astype(np.float32)
    points = rng.normal(size=(20, 2))
    ts = [
        Target("idx-images", _idx_images_seed, _loader("engine.data.images", "read_idx", "images"),
               "train-images-idx3-ubyte", fields=_idx_fields),
        Target("idx-images-gz", _idx_images_seed, _loader("engine.data.images", "read_idx", "images"),
               "train-images-idx3-ubyte.gz", fields=_gzip_fields, encode=_gz),
        Target("idx-labels", _idx_labels_seed, _loader("engine.data.images", "read_idx", "labels"),
               "train-labels-idx1-ubyte", fields=_idx_fields),
        Target("cifar-binary", _cifar_binary_seed, _loader("engine.data.images", "load_cifar"), "data_batch_1.bin",
               fields=lambda d: [Field(0, 1), Field(3073, 1)]),
        Target("cifar-python-p2", lambda _: pickle.dumps(_cifar_batch(), protocol=2),
               _loader("engine.data.images", "load_cifar"), "data_batch_1", tokens=_pickle_tokens()),
        Target("cifar-python-p5", lambda _: pickle.dumps(_cifar_batch(), protocol=5),
               _loader("engine.data.images", "load_cifar"), "data_batch_2", tokens=_pickle_tokens()),
        Target("npy-images", _npy_seed(images_u8), _loader("engine.data.images", "load_image_array"), "x.npy",
               tokens=NPY_TOKENS, fields=lambda d: [Field(8, 2, "little")]),
        Target("npy-float-images", _npy_seed(images_f), _loader("engine.data.images", "load_image_array"), "x.npy",
               tokens=NPY_TOKENS, fields=lambda d: [Field(8, 2, "little")]),
        Target("npy-points", _npy_seed(points), _loader("engine.data.points", "load_points"), "p.npy",
               tokens=NPY_TOKENS, fields=lambda d: [Field(8, 2, "little")]),
        Target("npz", _npz_seed(False), _loader("engine.data.images", "load_image_array"), "x.npz",
               fields=_zip_fields, tokens=NPY_TOKENS),
        Target("npz-compressed", _npz_seed(True), _loader("engine.data.images", "load_image_array"), "x.npz",
               fields=_zip_fields),
        Target("csv-points", _points_csv_seed, _loader("engine.data.points", "load_points"), "points.csv",
               tokens=CSV_TOKENS, weights=(0.0, 0.0, 0.6)),
        Target("metrics-csv", _metrics_seed, _read_metrics, "metrics.csv", tokens=CSV_TOKENS, weights=(0.0, 0.0, 0.6)),
        Target("toml-config", _toml_seed, _loader("engine.training.config", "load_config"), "config.toml",
               tokens=TOML_TOKENS, weights=(0.0, 0.0, 0.7)),
        Target("safetensors-model", _model_seed, _load_model, "model.safetensors",
               fields=lambda d: [Field(0, 8, "little")], tokens=SAFETENSORS_TOKENS,
               structured=_safetensors_structured, weights=(0.7, 0.05, 0.1)),
        Target("png-texture", _png_seed, _load_texture, "texture.png", fields=_png_fields, fixup=png_fix_crcs),
        Target("jpeg-texture", _jpeg_seed, _load_texture, "texture.jpg", fields=_jpeg_fields),
        Target("bmp-in-folder", _bmp_seed, _load_folder, "bad.bmp", fields=_bmp_fields, place=_place_in_folder),
        Target("gif-in-folder", _gif_seed, _load_folder, "bad.gif", fields=_gif_fields, place=_place_in_folder),
        Target("experiment-folder", _checkpoint_seed, _resume_and_step, "ckpt",
               fields=lambda d: [Field(0, 8, "little")], tokens=SAFETENSORS_TOKENS,
               structured=_safetensors_structured, place=_place_checkpoint, weights=(0.8, 0.05, 0.05)),
    ]
    return {t.name: t for t in ts}
