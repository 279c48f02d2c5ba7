"""umx: MLX's unified-memory array programming model for Linux CPUs and NVIDIA GPUs.

``import umx as mx``: arrays have no device, every op takes ``stream=``, evaluation is lazy,
and the scheduler runs independent streams at the same time.
"""

from __future__ import annotations

from . import _device
from ._array import ArrayIterator, ArrayLike, array
from ._device import (
    Device,
    DeviceType,
    Stream,
    ThreadLocalStream,
    clear_streams,
    default_device,
    default_stream,
    device_count,
    device_info,
    is_available,
    new_stream,
    new_thread_local_stream,
    new_thread_unsafe_stream,
    set_default_device,
    set_default_stream,
    StreamContext,
    stream,
)
from ._dtypes import (
    Dtype,
    DtypeCategory,
    bfloat16,
    bool_,
    can_cast,
    complex64,
    complexfloating,
    finfo,
    float16,
    float32,
    float64,
    floating,
    generic,
    iinfo,
    inexact,
    int8,
    int16,
    int32,
    int64,
    integer,
    isdtype,
    issubdtype,
    number,
    result_type,
    signedinteger,
    uint8,
    uint16,
    uint32,
    uint64,
    unsignedinteger,
)
from ._compile import compile, disable_compile, enable_compile
from ._export import FunctionExporter, export_function, exporter, import_function
from ._eval import async_eval, eval
from ._interop import from_dlpack
from ._printing import PrintOptions, get_printoptions, printoptions, set_printoptions
from ._trace import profile
from ._io import load, save, save_gguf, save_safetensors, savez, savez_compressed
from ._dot import export_to_dot
from .transforms import checkpoint, custom_function, grad, jvp, value_and_grad, vjp, vmap
from ._version import __version__
from .ops import _methods
from .ops.binary import *  # noqa: F403 - each family lists its public names in __all__
from .ops.composite import *  # noqa: F403
from .ops.conv import *  # noqa: F403
from .ops.creation import *  # noqa: F403
from .ops.depends import *  # noqa: F403
from .ops.einsum import *  # noqa: F403
from .ops.index import *  # noqa: F403
from .ops.join import *  # noqa: F403
from .ops.linalg import *  # noqa: F403
from .ops.matmul_variants import *  # noqa: F403
from .ops.quantized import *  # noqa: F403
from .ops.reduce import *  # noqa: F403
from .ops.scan import *  # noqa: F403
from .ops.scatter import *  # noqa: F403
from .ops.select import *  # noqa: F403
from .ops.shape import *  # noqa: F403
from .ops.sort import *  # noqa: F403
from .ops.unary import *  # noqa: F403

from . import cuda, metal  # noqa: E402  (after the ops: they only probe backends)
from . import random  # noqa: E402
from . import linalg  # noqa: E402
from . import fft  # noqa: E402
from . import fast  # noqa: E402
from . import distributed  # noqa: E402
from .memory import *  # noqa: E402,F403 - get_active_memory, set_memory_limit, ...

cpu = DeviceType.cpu
gpu = DeviceType.gpu
complex128 = complex64  # MLX has no complex128; the name maps as MLX's NumPy bridge does
inf = float("inf")
nan = float("nan")
pi = 3.141592653589793
e = 2.718281828459045
euler_gamma = 0.5772156649015329
newaxis = None
_device._init_default_device()
_methods.bind()


def synchronize(stream: Stream | None = None) -> None:  # noqa: F811 - MLX's parameter name
    """Wait until all work queued on ``stream`` (default: every stream in use) finished."""
    from ._scheduler import synchronize as _sync

    _sync(stream)
