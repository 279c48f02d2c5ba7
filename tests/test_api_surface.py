"""The smaller names of mlx.core: array-API aliases, print options, stream contexts,
iterators, ``depends``, buffer sizes, the deprecated ``mx.metal`` functions and the
one-process ``mx.distributed``, each with MLX's behaviour (checked against MLX 0.32.4)."""

from __future__ import annotations

import numpy as np
import pytest

import umx as mx

ALIASES = {
    "acos": "arccos", "acosh": "arccosh", "asin": "arcsin", "asinh": "arcsinh",
    "atan": "arctan", "atanh": "arctanh", "atan2": "arctan2", "pow": "power",
    "bitwise_left_shift": "left_shift", "bitwise_right_shift": "right_shift",
}  # fmt: skip


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_array_api_aliases_are_the_same_functions(alias):
    assert getattr(mx, alias) is getattr(mx, ALIASES[alias])


def test_alias_results():
    x = mx.array([0.5, -0.25])
    np.testing.assert_allclose(np.array(mx.acos(x)), np.arccos([0.5, -0.25]), rtol=1e-6)
    assert mx.pow(mx.array([2, 3]), 2).tolist() == [4, 9]
    assert mx.bitwise_left_shift(mx.array([1, 2], mx.uint8), 3).tolist() == [8, 16]
    assert mx.atan2(mx.array(1.0), -1.0).item() == pytest.approx(np.arctan2(1.0, -1.0))


def test_print_options():
    assert mx.get_printoptions().precision == -1
    mx.set_printoptions(precision=3)
    try:
        opts = mx.get_printoptions()
        assert isinstance(opts, mx.PrintOptions) and opts.precision == 3
        opts.precision = 1  # a copy: the global setting stays
        assert mx.get_printoptions().precision == 3
        with mx.printoptions(precision=5):
            assert mx.get_printoptions().precision == 5
            assert repr(mx.array(1.5)) == "array(1.50000, dtype=float32)"
        assert mx.get_printoptions().precision == 3
    finally:
        mx.set_printoptions()
    assert mx.get_printoptions().precision == -1
    assert mx.PrintOptions().precision == -1


def test_stream_context_is_a_class_and_restores_on_error():
    before = mx.default_device()
    ctx = mx.stream(mx.cpu)
    assert isinstance(ctx, mx.StreamContext)
    with pytest.raises(RuntimeError):
        with ctx as entered:
            assert entered is None
            assert mx.default_device() == mx.Device(mx.cpu)
            raise RuntimeError("inside")
    assert mx.default_device() == before
    with mx.StreamContext(mx.new_stream(mx.cpu)) as _:
        assert mx.default_stream(mx.default_device()).device == mx.Device(mx.cpu)


def test_array_iterator():
    it = iter(mx.array([[1, 2], [3, 4]]))
    assert isinstance(it, mx.ArrayIterator) and iter(it) is it
    assert next(it).tolist() == [1, 2]
    assert [r.tolist() for r in it] == [[3, 4]]
    with pytest.raises(StopIteration):
        next(it)
    with pytest.raises(TypeError):
        iter(mx.array(1))


def test_array_like_wraps_objects_with_mlx_array():
    class Box:
        def __mlx_array__(self):
            return mx.array([1, 2])

    wrapped = mx.ArrayLike(Box())
    assert (mx.array([1, 2]) + wrapped).tolist() == [2, 4]
    assert mx.exp(wrapped).shape == (2,)


def test_depends_orders_evaluation_and_passes_values_through():
    a = mx.array([1.0, 2.0, 3.0])
    side = mx.exp(a)
    out = mx.depends(a * 2, side)
    assert isinstance(out, mx.array)
    assert out.tolist() == [2.0, 4.0, 6.0]
    assert side._data is not None  # computed as a dependency
    outs = mx.depends([a, a + 1], [side, side * 2])
    assert isinstance(outs, list) and [o.tolist() for o in outs] == [[1, 2, 3], [2, 3, 4]]
    with pytest.raises(TypeError, match="depends"):
        mx.depends(a, 3)


def test_depends_under_transforms():
    a = mx.array([1.0, 2.0])

    def f(x):
        return mx.depends(x * 3, mx.exp(x)).sum()

    assert mx.grad(f)(a).tolist() == [3.0, 3.0]
    _, tangents = mx.jvp(lambda x: mx.depends(x * 2, mx.exp(x)), [a], [mx.ones(2)])
    assert tangents[0].tolist() == [2.0, 2.0]
    assert mx.vmap(lambda x: mx.depends(x + 1, x))(mx.ones((2, 2))).tolist() == [[2, 2]] * 2


def test_array_buffer_size_counts_each_buffer_once():
    a = mx.array([1.0, 2.0, 3.0])
    b = mx.exp(a)
    mx.eval(a, b)
    assert mx.get_array_buffer_size(a, [b, {"x": a}], 3) == 24
    big = mx.zeros((1000,))
    view = big[:10]
    mx.eval(big, view)
    assert mx.get_array_buffer_size(view) == 4000  # a view counts its whole buffer
    assert mx.get_array_buffer_size(big, view) == 4000
    with pytest.raises(ValueError, match="must be evaluated"):
        mx.get_array_buffer_size(mx.exp(a))


def test_metal_deprecated_functions_forward():
    assert mx.metal.is_available() is False
    with pytest.warns(DeprecationWarning, match="mx.get_active_memory"):
        assert mx.metal.get_active_memory() == mx.get_active_memory()
    with pytest.warns(DeprecationWarning):
        assert mx.metal.device_info() == {}
    assert mx.metal.start_capture("trace.gputrace") is None
    assert mx.metal.stop_capture() is None


def test_distributed_is_a_group_of_one():
    d = mx.distributed
    assert d.is_available() and d.is_available("ring") and not d.is_available("mpi")
    g = d.init()
    assert isinstance(g, d.Group) and (g.rank(), g.size()) == (0, 1)
    assert d.init(backend="mpi").size() == 1
    with pytest.raises(RuntimeError, match="split"):
        g.split(0)
    with pytest.raises(RuntimeError):
        d.init(strict=True)
    with pytest.raises(ValueError, match="backend"):
        d.init(backend="carrier-pigeon")
    x = mx.array([[1.0, 2.0], [3.0, 4.0]])
    for f in (d.all_sum, d.all_max, d.all_min, d.all_gather, d.sum_scatter):
        assert f(x, group=g).tolist() == x.tolist()
    assert d.all_sum(3).item() == 3
    with pytest.raises(ValueError, match="singleton"):
        d.send(x, 0)
    with pytest.raises(ValueError, match="singleton"):
        d.recv((2,), mx.float32, 0)
    with pytest.raises(ValueError, match="singleton"):
        d.recv_like(x, 0)
    assert mx.grad(lambda v: d.all_sum(v).sum())(x).tolist() == [[1, 1], [1, 1]]


def test_real_and_imag_attributes():
    z = mx.array([1 + 2j, -3j])
    assert z.real.tolist() == [1.0, 0.0] and z.imag.tolist() == [2.0, -3.0]
    assert z.real.dtype == mx.float32
    i = mx.array([1, 2], mx.int32)
    assert i.real.tolist() == [1, 2] and i.imag.tolist() == [0, 0] and i.imag.dtype == mx.int32


def test_keywords_mlx_accepts_where_its_text_says_positional_only():
    a = mx.arange(6).reshape(2, 3)
    assert mx.roll(a, 1, axis=0).tolist() == [[3, 4, 5], [0, 1, 2]]
    assert mx.roll(a, shift=1, axis=1).tolist() == [[2, 0, 1], [5, 3, 4]]
    assert mx.astype(a, dtype=mx.float32).dtype == mx.float32
