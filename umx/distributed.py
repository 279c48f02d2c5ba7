"""``mx.distributed``: collectives over a group of processes.

umx runs in one process: ``init`` gives the group of that process alone (what MLX's ring
backend gives a program started without a host file), every collective over it returns its
input, and point-to-point ``send``/``recv`` have no peer, so they raise as in MLX.
"""

from __future__ import annotations

from ._array import array, as_array

__all__ = [
    "Group",
    "all_gather",
    "all_max",
    "all_min",
    "all_sum",
    "init",
    "is_available",
    "recv",
    "recv_like",
    "send",
    "sum_scatter",
]

_BACKENDS = ("any", "mpi", "nccl", "jaccl", "ring")
_AVAILABLE = ("any", "ring")  # the one-process group needs no transport


class Group:
    """A group of processes that collectives run over: here the calling process alone."""

    def rank(self) -> int:
        """This process's rank in the group."""
        return 0

    def size(self) -> int:
        """How many processes the group has."""
        return 1

    def split(self, color: int, key: int = -1) -> Group:
        """Subgroups by ``color``: a group of one process cannot be split."""
        raise RuntimeError("Cannot split the distributed group further.")


_WORLD = Group()


def is_available(backend: str = "any") -> bool:
    """Whether umx can set up ``backend``: the single-process group of ``any``/``ring``."""
    return backend in _AVAILABLE


def init(strict: bool = False, backend: str = "any", *, all_gather_factory=None) -> Group:
    """The global group: the calling process alone, whatever ``backend`` names. With
    ``strict=True`` it raises, as no multi-process transport exists here."""
    if backend not in _BACKENDS:
        raise ValueError(
            "[distributed] The only valid values for backend are 'any', 'mpi', 'nccl', "
            f"'jaccl' and 'ring' but '{backend}' was provided."
        )
    if strict:
        raise RuntimeError(f"[distributed] Couldn't initialize the {backend} backend.")
    return _WORLD


def _collective(x, group: Group | None) -> array:
    # Over the calling process alone, every reduction and gather returns the input.
    if group is not None and not isinstance(group, Group):
        raise TypeError("[distributed] group must be a Group.")
    return as_array(x, "distributed")


def all_sum(x, *, group: Group | None = None, stream=None) -> array:
    """The sum of ``x`` over the group's processes."""
    return _collective(x, group)


def all_max(x, *, group: Group | None = None, stream=None) -> array:
    """The elementwise maximum of ``x`` over the group's processes."""
    return _collective(x, group)


def all_min(x, *, group: Group | None = None, stream=None) -> array:
    """The elementwise minimum of ``x`` over the group's processes."""
    return _collective(x, group)


def all_gather(x, *, group: Group | None = None, stream=None) -> array:
    """The group's ``x`` arrays concatenated along the first axis, in rank order."""
    return _collective(x, group)


def sum_scatter(x, *, group: Group | None = None, stream=None) -> array:
    """This rank's share (along the first axis) of the sum of ``x`` over the group."""
    return _collective(x, group)


def send(x, dst: int, *, group: Group | None = None, stream=None) -> array:
    """Send ``x`` to rank ``dst``: a group of one has nobody to send to."""
    raise ValueError("Cannot send to a singleton group")


def recv(shape, dtype, src: int, *, group: Group | None = None, stream=None) -> array:
    """Receive an array from rank ``src``: a group of one has nobody to receive from."""
    raise ValueError("Cannot recv from a singleton group")


def recv_like(x, src: int, *, group: Group | None = None, stream=None) -> array:
    """``recv(x.shape, x.dtype, src)``."""
    raise ValueError("Cannot recv from a singleton group")
