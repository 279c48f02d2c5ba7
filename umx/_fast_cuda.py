"""``mx.fast.cuda_kernel`` and ``precompiled_cuda_kernel`` over CuPy's raw kernels.

The kernel's signature is generated as MLX's CUDA backend does: each array input is a
``const T*`` named after it (a 0-d input is passed by value), followed by ``NAME_shape``
(``const int*``), ``NAME_strides`` (``const long long*``, in elements) and ``NAME_ndim``
(``int``) where the source mentions them; then each output as ``T*``. Template arguments
become ``typedef``s / ``constexpr`` values at the top of the body. ``grid`` counts threads,
as MLX's (and Metal's) does: the launch uses ``ceil(grid / threadgroup)`` blocks.

The source is compiled when the kernel is called (errors surface there), and the launch
runs on the GPU stream the op is scheduled on. CuPy is imported lazily: this module loads
only where umx has a GPU.
"""

from __future__ import annotations

import numpy as np

from . import _dtypes as dt
from ._array import array, as_array
from ._device import DeviceType, resolve_stream
from ._primitive import NotDifferentiable, Primitive, multi_node
from ._rules import vmap_by_loop

_CTYPE = {
    dt.bool_: "bool", dt.uint8: "unsigned char", dt.uint16: "unsigned short",
    dt.uint32: "unsigned int", dt.uint64: "unsigned long long", dt.int8: "signed char",
    dt.int16: "short", dt.int32: "int", dt.int64: "long long", dt.float16: "__half",
    dt.bfloat16: "__nv_bfloat16", dt.float32: "float", dt.float64: "double",
}  # fmt: skip

_PRELUDE = """#include <cooperative_groups.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
"""

_MODULES: dict = {}  # source (or binary, name) -> (CuPy function, its module kept alive)


def _ctype(d: dt.Dtype, op: str) -> str:
    c = _CTYPE.get(d)
    if c is None:
        raise ValueError(f"[{op}] Unsupported dtype {d.name} for a CUDA kernel argument.")
    return c


def _triple(x, op: str, what: str) -> tuple:
    try:
        t = tuple(int(v) for v in x)
    except TypeError:
        t = ()
    if len(t) != 3 or min(t) < 1:
        raise ValueError(f"[{op}] {what} must be a tuple of 3 positive ints, got {x!r}.")
    return t


def _outputs(output_shapes, output_dtypes, n: int | None, op: str) -> tuple:
    shapes = [tuple(int(s) for s in sh) for sh in output_shapes]
    dtypes = [dt.to_dtype(d, op) for d in output_dtypes]
    if len(shapes) != len(dtypes) or (n is not None and len(shapes) != n):
        raise ValueError(
            f"[{op}] Expected one shape and one dtype per output; got {len(shapes)} shapes "
            f"and {len(dtypes)} dtypes" + ("." if n is None else f" for {n} outputs.")
        )
    return shapes, dtypes


def _gpu_stream(stream, op: str):
    s = resolve_stream(stream)
    if s.device.type is not DeviceType.gpu:
        raise RuntimeError(f"[{op}] Custom CUDA kernels run on GPU streams only.")
    return s


def _scalar_arg(x, d: dt.Dtype):
    """A by-value kernel argument of dtype ``d`` (bfloat16 travels as its 16 bits)."""
    v = np.asarray(x).astype(d.np)
    return v.view(np.uint16)[()] if d is dt.bfloat16 else v[()]


class CudaKernelOp(Primitive):
    """One launch of a compiled CUDA function; outputs are allocated (and optionally
    filled) here, then written by the kernel."""

    __slots__ = ("fn", "blocks", "threads", "shared", "init", "contiguous", "meta", "error")
    name = "cuda_kernel"
    multi = True

    def __init__(self, fn, blocks, threads, shared, init, contiguous, meta) -> None:
        self.fn, self.blocks, self.threads, self.shared = fn, blocks, threads, shared
        self.init, self.contiguous, self.meta = init, contiguous, meta
        self.error = None

    def params(self) -> tuple:
        return (id(self.fn), self.blocks, self.threads, self.shared, self.init)

    def eval(self, xp, *inputs):
        if xp is np:  # the GPU executor falls back to the host when a launch fails
            why = f": {self.error}" if self.error else ""
            raise RuntimeError(f"[cuda_kernel] The kernel could not run{why}")
        try:
            return self._launch(xp, inputs)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            raise

    def _launch(self, cp, inputs):
        in_dtypes, out_shapes, out_dtypes, extras, scalars, order = self.meta
        args = []
        for x, d, (shape_, strides_, ndim_) in zip(inputs, in_dtypes, extras):
            if x.ndim == 0:
                args.append(_scalar_arg(x.get() if hasattr(x, "get") else x, d))
                continue
            if self.contiguous:
                x = cp.ascontiguousarray(x)
            args.append(x)
            if shape_:
                args.append(cp.asarray(np.array(x.shape, np.int32)))
            if strides_:
                st = [s // x.itemsize for s in x.strides]
                args.append(cp.asarray(np.array(st, np.int64)))
            if ndim_:
                args.append(np.int32(x.ndim))
        outs = []
        for shape, d in zip(out_shapes, out_dtypes):
            o = cp.empty(shape, d.np) if self.init is None else cp.full(shape, self.init, d.np)
            outs.append(o)
        if order == "inputs_outputs":
            args += outs
        else:  # precompiled: inputs, outputs, then the scalars
            args += outs + list(scalars)
        self.fn(self.blocks, self.threads, tuple(args), shared_mem=self.shared)
        return tuple(outs)

    def vjp(self, primals, cotangents, argnums, outputs):
        raise NotDifferentiable("[cuda_kernel] Custom kernels have no derivative rule.")

    def jvp(self, primals, tangents, argnums):
        raise NotDifferentiable("[cuda_kernel] Custom kernels have no derivative rule.")

    vmap = vmap_by_loop


def _launch_shape(grid, threadgroup, op: str) -> tuple:
    grid = _triple(grid, op, "grid")
    threads = _triple(threadgroup, op, "threadgroup")
    return tuple(-(-g // t) for g, t in zip(grid, threads)), threads


class CudaKernel:
    """What ``mx.fast.cuda_kernel`` returns: call it with the inputs, output shapes and
    dtypes, grid and threadgroup; it returns the outputs (lazy arrays)."""

    def __init__(self, name, input_names, output_names, source, header, contiguous, shared) -> None:
        self.name, self.input_names, self.output_names = name, input_names, output_names
        self.source, self.header = source, header
        self.contiguous, self.shared = contiguous, shared

    def _source(self, inputs, out_dtypes, template) -> tuple[str, list]:
        op = "cuda_kernel"
        params, extras = [], []
        for nm, x in zip(self.input_names, inputs):
            c = _ctype(x.dtype, op)
            if x.ndim == 0:
                params.append(f"const {c} {nm}")
                extras.append((False, False, False))
                continue
            params.append(f"const {c}* __restrict__ {nm}")
            flags = tuple(f"{nm}_{s}" in self.source for s in ("shape", "strides", "ndim"))
            if flags[0]:
                params.append(f"const int* {nm}_shape")
            if flags[1]:
                params.append(f"const long long* {nm}_strides")
            if flags[2]:
                params.append(f"const int {nm}_ndim")
            extras.append(flags)
        for nm, d in zip(self.output_names, out_dtypes):
            params.append(f"{_ctype(d, op)}* __restrict__ {nm}")
        head = []
        for tname, val in template or ():
            if isinstance(val, bool):
                head.append(f"  constexpr bool {tname} = {'true' if val else 'false'};")
            elif isinstance(val, int):
                head.append(f"  constexpr int {tname} = {val};")
            elif isinstance(val, dt.Dtype):
                head.append(f"  typedef {_ctype(val, op)} {tname};")
            else:
                raise ValueError(
                    f"[{op}] Template argument {tname} must be a bool, an int or a Dtype."
                )
        fname = f"custom_kernel_{self.name}"
        sig = ",\n    ".join(params)
        src = (
            f'{_PRELUDE}{self.header}\n\nextern "C" __global__ void {fname}(\n    {sig}) {{\n'
            + "\n".join(head)
            + f"\n{self.source}\n}}\n"
        )
        return src, extras

    def __call__(
        self,
        *,
        inputs,
        output_shapes,
        output_dtypes,
        grid,
        threadgroup,
        template=None,
        init_value=None,
        verbose: bool = False,
        stream=None,
    ) -> list[array]:
        op = "cuda_kernel"
        ins = [as_array(x, op) for x in inputs]
        if len(ins) != len(self.input_names):
            raise ValueError(f"[{op}] Expected {len(self.input_names)} inputs, got {len(ins)}.")
        shapes, dtypes = _outputs(output_shapes, output_dtypes, len(self.output_names), op)
        blocks, threads = _launch_shape(grid, threadgroup, op)
        s = _gpu_stream(stream, op)
        src, extras = self._source(ins, dtypes, template)
        if verbose:
            print(src)
        fn = _compile(src, f"custom_kernel_{self.name}")
        meta = ([x.dtype for x in ins], shapes, dtypes, extras, (), "inputs_outputs")
        prim = CudaKernelOp(fn, blocks, threads, self.shared, init_value, self.contiguous, meta)
        return multi_node(prim, tuple(ins), shapes, dtypes, s)


def _compile(src: str, fname: str):
    hit = _MODULES.get(src)
    if hit is None:
        import cupy

        try:
            mod = cupy.RawModule(code=src, options=("-std=c++17",))
            hit = _MODULES[src] = (mod.get_function(fname), mod)
        except Exception as exc:  # CuPy's CompileException carries the compiler log
            raise ValueError(f"[cuda_kernel] Failed to compile the kernel: {exc}") from exc
    return hit[0]


def run_precompiled(
    name, compiled_source, inputs, output_shapes, output_dtypes, scalars, grid, threadgroup,
    shared_memory, init_value, ensure_row_contiguous, stream,
) -> list[array]:  # fmt: skip
    """``mx.fast.precompiled_cuda_kernel``: load PTX / cubin bytes and launch ``name``."""
    op = "precompiled_cuda_kernel"
    if not isinstance(compiled_source, (bytes, bytearray)):
        raise TypeError(f"[{op}] compiled_source must be bytes.")
    ins = [as_array(x, op) for x in inputs]
    shapes, dtypes = _outputs(output_shapes, output_dtypes, None, op)
    blocks, threads = _launch_shape(grid, threadgroup, op)
    s = _gpu_stream(stream, op)
    key = (bytes(compiled_source), name)
    hit = _MODULES.get(key)
    if hit is None:
        import cupy

        mod = cupy.cuda.function.Module()
        try:
            mod.load(bytes(compiled_source))
            hit = _MODULES[key] = (mod.get_function(name), mod)
        except Exception as exc:
            raise ValueError(f"[{op}] Failed to load kernel {name!r}: {exc}") from exc
    fn = hit[0]
    sc = []
    for v in scalars:
        if isinstance(v, bool):
            sc.append(np.bool_(v))
        elif isinstance(v, int):
            sc.append(np.int32(v))
        elif isinstance(v, float):
            sc.append(np.float32(v))
        else:
            raise TypeError(f"[{op}] scalars must be bool, int or float, got {type(v).__name__}.")
    extras = [(False, False, False)] * len(ins)
    # Arrays (0-d included) travel as pointers here: wrap them so none is passed by value.
    ins = [x if x.ndim else x.reshape((1,)) for x in ins]
    meta = ([x.dtype for x in ins], shapes, dtypes, extras, tuple(sc), "precompiled")
    prim = CudaKernelOp(
        fn, blocks, threads, int(shared_memory), init_value, bool(ensure_row_contiguous), meta
    )
    return multi_node(prim, tuple(ins), shapes, dtypes, s)
