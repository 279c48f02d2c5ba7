"""The op families. Each module declares its primitives next to their public functions,
lists its public names in ``__all__`` and its array methods in ``METHODS``."""

from . import (
    binary,
    composite,
    creation,
    einsum,
    index,
    join,
    linalg,
    reduce,
    scan,
    scatter,
    select,
    shape,
    sort,
    unary,
)

FAMILIES = (
    unary,
    binary,
    creation,
    shape,
    join,
    reduce,
    scan,
    index,
    scatter,
    linalg,
    einsum,
    sort,
    select,
    composite,
)
