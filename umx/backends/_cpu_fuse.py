"""Fusing chains of elementwise ops on CPU streams into one native call.

A NumPy call costs ~1 us and the scheduler ~0.5 us per node, so a chain of small
elementwise ops is call-bound, and on large arrays each op streams the whole array through
memory once. A run of fusable nodes (found by the graph walk, umx._fusion) is computed by a
small C library, ``_cpu_kernels.c``, that applies every op of the chain to one cache-sized
block at a time. Large chains are split across threads (the call releases the GIL). A run
of one op stops where a block stops changing (a fixed point: exp at inf, abs after one
step, sqrt at 1), so that 500 exps cost about six. Besides unary ops a run may hold binary
ops with a constant (``x * 2``, ``1 - x``, ``maximum(x, 0)``), the constants passed along.

The library is built on first use with the system C compiler (``$CC``, ``cc``, ``gcc`` or
``clang``) and cached on disk (``$UMX_CACHE_DIR``, else ``~/.cache/umx``). Without a
compiler, or with ``UMX_CPU_FUSION=0``, chains run op by op through NumPy as before.
``UMX_CPU_THREADS`` sets the threads of one chain (default: the cores, at most 16).
Results match NumPy within an ulp or two (exp is within 0.9 ulp, sqrt and the arithmetic
ops are exact), not bit for bit.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from .._fusion import cached_kernel

__all__ = [
    "BINARY_OPS", "OPS", "available", "erfinv_f32", "kinds", "run_chain", "unavailable_reason",
]  # fmt: skip

# Op codes of _cpu_kernels.c, by primitive name.
OPS = {
    "copy": 0, "stop_gradient": 0, "negative": 1, "abs": 2, "square": 3, "reciprocal": 4,
    "sqrt": 5, "rsqrt": 6, "floor": 7, "ceil": 8, "exp": 9, "sigmoid": 10,
}  # fmt: skip
# Op codes of binary ops with a constant c, by (primitive name, side): side 0 is x op c,
# side 1 is c op x (add and multiply commute bit for bit; maximum and minimum do not, for
# signed zeros).
BINARY_OPS = {
    ("add", 0): 11, ("add", 1): 11, ("subtract", 0): 12, ("subtract", 1): 13,
    ("multiply", 0): 14, ("multiply", 1): 14, ("divide", 0): 15, ("divide", 1): 16,
    ("maximum", 0): 17, ("maximum", 1): 18, ("minimum", 0): 19, ("minimum", 1): 20,
}  # fmt: skip
_ABI_VERSION = 8
_SOURCE = Path(__file__).with_name("_cpu_kernels.c")
_FLAGS = ["-O3", "-fno-math-errno", "-fPIC", "-shared", "-std=c99", "-pthread"]
# Tried in order, the first the compiler takes wins: OpenMP where it has it, some compilers
# lack -march=native. 512-bit vectors where the CPU has them: GCC picks 256 for Intel's
# AVX-512 CPUs, and the exp chain then ran 1.6x slower on the H100 host's Xeon (kernel_probe).
_ARCH_CHOICES = (
    ["-march=native", "-mprefer-vector-width=512", "-fopenmp"],
    ["-march=native", "-fopenmp"],
    ["-fopenmp"],
    ["-march=native"],
    [],
)
# Split a chain across threads once it has this many element-ops per thread (~25 us).
# (Fewer, longer shares were tried: on one H100 host 8 cold threads ran the seed's chain in
# 0.17 ms against 0.40 on 16, on the next 0.53 against 0.23; fusion_probe.)
_OPS_PER_THREAD = 1 << 16
_SPLIT_ALIGN = 128  # elements: the smallest task worth a thread (fewer starve the vector units)
_TASKS_PER_THREAD = 4  # OpenMP tasks per thread, taken dynamically: slack for a slow thread

_DISABLED = os.environ.get("UMX_CPU_FUSION", "1") == "0"
_lock = threading.Lock()
_lib = None  # the loaded library, False once building it failed
_reason = ""
_kinds: frozenset | None = None
_binary_kinds: frozenset | None = None
_pool = None
_threads = 1
_cores = 1
_openmp = False  # the library splits chains itself (OpenMP threads spin briefly: fast wake-up)
_forked = False  # this process is a fork of one that loaded the library


def _after_fork() -> None:
    """In a forked child: no OpenMP team (GNU OpenMP hangs), a new lock and a new pool (the
    parent's threads, and a lock one of them may have held, did not come along)."""
    global _forked, _lock, _pool
    _forked = _lib is not None and _lib is not False
    _lock = threading.Lock()
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def unavailable_reason() -> str:
    """Why CPU fusion is off ('' when it is on or not tried yet)."""
    return _reason


def fusable() -> frozenset | None:
    """The primitive classes the graph walk may fuse on CPU streams; None when fusion is
    off (disabled, or the library could not be built)."""
    return None if _lib is False or _DISABLED else kinds()


def kinds() -> frozenset:
    """The primitive classes the CPU kernels can fuse."""
    global _kinds
    if _kinds is None:
        from .._fusion import unary_classes

        _kinds = unary_classes(OPS)
    return _kinds


def fusable_binary() -> frozenset | None:
    """The binary primitive classes a fused run may hold (with a constant); None when
    fusion is off."""
    global _binary_kinds
    if _lib is False or _DISABLED:
        return None
    if _binary_kinds is None:
        from .._fusion import binary_classes

        _binary_kinds = binary_classes({name for name, _ in BINARY_OPS})
    return _binary_kinds


def available() -> bool:
    """True when the kernel library is built and loaded (building it on first call)."""
    if _lib is None:
        with _lock:
            if _lib is None:
                _load()
    return bool(_lib)


def _cache_dir() -> Path:
    d = os.environ.get("UMX_CACHE_DIR")
    if d:
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "umx"


def _cpu_id() -> str:
    """What -march=native depends on: the CPU model and its feature flags."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f.read().splitlines() if ln.startswith(("model name", "flags"))]
        return "\n".join(sorted(set(lines)))
    except OSError:
        return platform.processor()


def _compiler() -> str | None:
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc)
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _load() -> None:
    global _lib, _reason, _threads
    if _DISABLED:
        _lib, _reason = False, "disabled by UMX_CPU_FUSION=0"
        return
    # libgomp's threads spin ~300k rounds after each parallel region by default; next to
    # OpenBLAS's spinning threads that oversubscribed the cores (seed all on CPU: 1.6 ->
    # 16 ms on the H100 host). A short spin keeps the wake-up fast between close chains.
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    try:
        path = _build()
        lib = ctypes.CDLL(str(path))
        if lib.umx_kernels_version() != _ABI_VERSION:
            raise OSError(f"{path} has another ABI version")
        for name in ("umx_chain_f32", "umx_chain_f64"):
            f = getattr(lib, name)
            f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
            f.argtypes += [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int64]
            f.restype = ctypes.c_int64  # the element-ops applied, or < 0 for an error
        lib.umx_chain_start.argtypes = [ctypes.c_int32, *lib.umx_chain_f32.argtypes]
        lib.umx_chain_start.restype = ctypes.c_int
        lib.umx_chain_join.argtypes = []
        lib.umx_chain_join.restype = ctypes.c_int64
        f = lib.umx_erfinv_f32
        f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32]
        f.restype = None
    except (OSError, AttributeError, subprocess.SubprocessError) as exc:  # no or a bad library
        _lib, _reason = False, f"{type(exc).__name__}: {exc}"
        return
    global _openmp, _cores
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    _threads = _env_threads() or min(16, _cores)
    _openmp = bool(lib.umx_kernels_threaded())
    _lib = lib


def _env_threads() -> int:
    """``UMX_CPU_THREADS`` as a positive int, or 0 where unset or not one (ignored)."""
    try:
        return max(0, int(os.environ.get("UMX_CPU_THREADS", "")))
    except ValueError:
        return 0


def _build() -> Path:
    """Compile the kernels (once per machine and source version); returns the library's path."""
    cc = _compiler()
    if cc is None:
        raise OSError("no C compiler found (set CC)")
    source = _SOURCE.read_bytes()
    key = hashlib.sha256(
        b"\0".join(
            [source, cc.encode(), repr((_FLAGS, _ARCH_CHOICES)).encode(), _cpu_id().encode()]
        )
    ).hexdigest()[:16]
    out_dir = _cache_dir()
    target = out_dir / f"cpu_kernels-{key}.so"
    if target.exists():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        for arch in _ARCH_CHOICES:
            cmd = [cc, *_FLAGS, *arch, str(_SOURCE), "-o", tmp, "-lm"]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if r.returncode == 0:
                break
        else:
            raise OSError(f"{' '.join(cmd)} failed: {r.stderr.strip()[-500:]}")
        os.replace(tmp, target)  # atomic: other processes see the whole file or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


# Chain.key -> [the op codes the kernel takes, their address, the element-ops per element
# its last run applied, the positions of the ops with a constant (None: there are none)].
# A run of one op stops at a fixed point (the seed's 500 exps apply about six), so the
# threads of the next run are sized by what the last one measured.
_CODES: dict = {}


def _op_codes(key) -> list:
    codes = [BINARY_OPS[e[0].name, e[1]] if type(e) is tuple else OPS[e.name] for e in key]
    where = [k for k, e in enumerate(key) if type(e) is tuple]
    codes = np.array(codes, dtype=np.int32)
    return [codes, codes.ctypes.data, float(len(codes)), np.array(where) if where else None]


def _constants(chain, nops: int, where) -> np.ndarray:
    """Each op's constant, as the kernel reads them (0 for unary ops)."""
    values = np.zeros(nops)
    values[where] = chain.consts
    return values


def run_chain(chain, x: np.ndarray, meanwhile=None) -> np.ndarray:
    """The chain's result for input ``x`` (a new C-contiguous array of ``x``'s dtype).

    ``meanwhile()``, if given, is called while the chain runs on the library's helper
    thread: the calling thread enqueues GPU work in that time instead of waiting for it.
    It is called before the chain instead where the chain cannot run in the background,
    or where its last run's work was too little for a thread of its own: handing it over
    and back cost more than it overlapped (the seed's 500 exps, done after six).
    """
    if type(x) is not np.ndarray:
        x = np.asarray(x)
    if not x.flags.c_contiguous:
        x = x.copy(order="C")  # not ascontiguousarray: it makes 0-d arrays 1-d
    f64 = x.itemsize == 8  # chains are float32 or float64
    y = np.empty_like(x)
    entry = cached_kernel(_CODES, chain, _op_codes)
    codes, cp, per_element, where = entry
    n, nops = x.size, len(codes)
    threads = min(_threads, n // _SPLIT_ALIGN, int(n * per_element) // _OPS_PER_THREAD)
    xp, yp = x.ctypes.data, y.ctypes.data
    if where is None:
        kp = None
    else:
        consts = _constants(chain, nops, where)  # alive until the kernel returns
        kp = consts.ctypes.data
    if meanwhile is not None:
        if _openmp and not _forked and n * per_element >= _OPS_PER_THREAD:
            # One core is left to the calling thread, busy with ``meanwhile``.
            t = max(1, min(threads, _cores - 1))
            if _lib.umx_chain_start(f64, xp, yp, n, cp, kp, nops, t, _chunk(n, t)) == 0:
                try:
                    meanwhile()
                finally:  # even when interrupted: the helper still writes into y
                    rc = _lib.umx_chain_join()
                return _checked(y, rc, entry, n)
        meanwhile()
    fn = _lib.umx_chain_f64 if f64 else _lib.umx_chain_f32
    if threads <= 1 or (_openmp and _forked):  # GNU OpenMP may hang in a forked child
        rc = fn(xp, yp, n, cp, kp, nops, 1, 0)
    elif _openmp:
        rc = fn(xp, yp, n, cp, kp, nops, threads, _chunk(n, threads))
    else:
        rc = _run_split(fn, xp, yp, x.itemsize, n, cp, kp, nops, threads)
    return _checked(y, rc, entry, n)


def _checked(y: np.ndarray, rc: int, entry: list, n: int) -> np.ndarray:
    """``y`` once the kernel returned ``rc`` (the element-ops applied, kept in ``entry`` for
    the next run's thread count; negative: it failed)."""
    if rc < 0:
        raise RuntimeError(f"[fused chain] the CPU kernel failed (code {rc})")
    if n:
        entry[2] = rc / n
    return y


def _chunk(n: int, threads: int) -> int:
    """Elements per OpenMP task: about _TASKS_PER_THREAD tasks a thread, each at least
    _SPLIT_ALIGN elements, a multiple of 64 (whole cache lines and vectors)."""
    per = -(-n // (max(threads, 1) * _TASKS_PER_THREAD))
    return max(_SPLIT_ALIGN, -(-per // 64) * 64)


def _run_split(fn, xp, yp, itemsize, n, cp, kp, nops, parts) -> int:
    """Run slices of the chain on ``parts`` threads (this one included)."""
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        with _lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(_threads - 1, thread_name_prefix="umx-fused")
    step = -(-n // parts // _SPLIT_ALIGN) * _SPLIT_ALIGN
    futures = []
    for start in range(step, n, step):
        m = min(step, n - start)
        off = start * itemsize
        futures.append(_pool.submit(fn, xp + off, yp + off, m, cp, kp, nops, 1, 0))
    try:
        applied = [fn(xp, yp, min(step, n), cp, kp, nops, 1, 0)] + [f.result() for f in futures]
    except BaseException:  # interrupted: the threads still write into y, let them finish
        from concurrent.futures import wait

        wait(futures)
        raise
    return min(applied) if min(applied) < 0 else sum(applied)  # negative: a part failed


def erfinv_f32(x: np.ndarray) -> np.ndarray | None:
    """MLX's float32 erfinv of a float32 array in the C library (threads where it is
    large), or None where the library is unavailable."""
    if not available():
        return None
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.empty_like(x)
    threads = min(_threads, max(1, x.size // _OPS_PER_THREAD)) if _openmp else 1
    _lib.umx_erfinv_f32(x.ctypes.data, y.ctypes.data, x.size, threads)
    return y
