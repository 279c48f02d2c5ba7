"""mx.export_function / mx.exporter / mx.import_function: round trips through a file, MLX
0.32.4's calling conventions and errors (checked with the oracle), grad through an imported
function, and a loader that refuses classes other than umx primitives."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import umx as mx

_NO_MATCH = "No imported function found which matches"
_INPUTS = "Inputs can either be a variable number of positional and keyword arrays"


def _np(x):
    return np.array(x)


def _round_trip(tmp_path, fun, *args, **kwargs):
    path = str(tmp_path / "f.mlxfn")
    mx.export_function(path, fun, *args, **kwargs)
    return mx.import_function(path)


def _same(got, want, rtol=1e-6, atol=1e-6):
    want = want if isinstance(want, (tuple, list)) else (want,)
    assert isinstance(got, tuple) and len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(_np(g), _np(w), rtol=rtol, atol=atol)


# -- round trips ----------------------------------------------------------------------------


def _chain(x, y):
    return mx.maximum(mx.tanh(x) * 2.5 + mx.exp(-y), 0.1)


def _reductions(x):
    return x.sum(axis=0), x.max(axis=1, keepdims=True), mx.logsumexp(x), x.argmin(axis=0)


def _mlp(x, w1, b1, w2):
    h = mx.maximum(x @ w1 + b1, 0.0)
    return mx.softmax(h @ w2, axis=-1)


@pytest.mark.parametrize(
    "fun,shapes",
    [
        (_chain, [(3, 4), (3, 4)]),
        (lambda a, b: a @ b, [(5, 3), (3, 2)]),
        (_reductions, [(4, 6)]),
        (lambda a, b: mx.divmod(a, b), [(7,), (7,)]),
        (lambda a: mx.linalg.eigh(a + a.T, stream=mx.cpu), [(4, 4)]),
        (_mlp, [(8, 5), (5, 16), (16,), (16, 3)]),
        (lambda a: (a[1:, ::2], a[None, 0], mx.take(a, mx.array([2, 0]), axis=1)), [(3, 4)]),
        (lambda a: (mx.sort(a, axis=0), mx.cumsum(a, axis=1), mx.pad(a, 1)), [(3, 4)]),
        (lambda a: (mx.fft.rfft(a), a.astype(mx.bfloat16) * 2, a.T.reshape(2, -1)), [(2, 4)]),
        (
            lambda a, b: mx.einsum("ij,jk->ik", a, b) + mx.where(a.sum() > 0, 1.0, 2.0),
            [(2, 3), (3, 2)],
        ),
        (lambda a: mx.concatenate([a, mx.sigmoid(a)], axis=0)[mx.array([0, 3])], [(2, 3)]),
        (lambda a: mx.conv1d(a, mx.ones((2, 3, 4)) * 0.5, padding=1), [(1, 6, 4)]),
    ],
)
def test_round_trip_matches_the_function(tmp_path, rng, fun, shapes):
    args = [mx.array(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    f = _round_trip(tmp_path, fun, *args)
    _same(f(*args), fun(*args), rtol=1e-5, atol=1e-5)
    # a second call with new values of the same signature uses the same trace
    args2 = [mx.array(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    _same(f(*args2), fun(*args2), rtol=1e-5, atol=1e-5)


@given(
    st.sampled_from(["exp", "sin", "tanh", "square", "abs"]),
    st.lists(st.integers(1, 4), max_size=3),
    st.sampled_from([mx.float32, mx.float16, mx.float64]),
)
def test_random_elementwise_graphs(tmp_path_factory, name, shape, dtype):
    op = getattr(mx, name)

    def f(x):
        return op(x) * 0.5 + x, (x - 1).sum()

    x = mx.array(np.linspace(-1, 1, int(np.prod(shape))).reshape(shape), dtype=dtype)
    g = _round_trip(tmp_path_factory.mktemp("e"), f, x)
    _same(g(x), f(x), rtol=1e-3 if dtype == mx.float16 else 1e-6)


def test_single_output_is_a_one_element_tuple_and_lists_become_tuples(tmp_path):
    x = mx.array([1.0, 2.0])
    out = _round_trip(tmp_path, lambda a: a * 2, x)(x)
    assert type(out) is tuple and len(out) == 1 and _np(out[0]).tolist() == [2.0, 4.0]
    out = _round_trip(tmp_path, lambda a: [a * 2, a], x)(x)
    assert type(out) is tuple and len(out) == 2
    assert _round_trip(tmp_path, lambda a: (), x)(x) == ()
    # an output that is the input itself, and a function of no inputs at all
    assert _np(_round_trip(tmp_path, lambda a: a, x)(x)[0]).tolist() == [1.0, 2.0]
    assert _round_trip(tmp_path, lambda: mx.array(3.0))()[0].item() == 3.0


def test_no_extension_is_added_and_a_path_object_works(tmp_path):
    x = mx.array(1.0)
    mx.export_function(str(tmp_path / "plain"), lambda a: a + 1, x)
    assert (tmp_path / "plain").exists() and not (tmp_path / "plain.mlxfn").exists()
    with pytest.raises(RuntimeError, match="Failed to open"):
        mx.import_function(str(tmp_path / "plain.mlxfn"))
    assert mx.import_function(tmp_path / "plain")(x)[0].item() == 2.0


def test_metadata(tmp_path):
    x = mx.array(1.0)
    p = str(tmp_path / "m.mlxfn")
    mx.export_function(p, lambda a: a, x, metadata='{"layers": 2}')
    f, meta = mx.import_function(p, return_metadata=True)
    assert meta == '{"layers": 2}' and f(x)[0].item() == 1.0
    mx.export_function(p, lambda a: a, x)
    assert mx.import_function(p, True)[1] == ""
    with pytest.raises(ValueError, match="only supported when exporting to a file"):
        mx.export_function(lambda d: None, lambda a: a, x, metadata="m")


# -- calling conventions (MLX 0.32.4) -----------------------------------------------------


def test_keyword_inputs_and_the_tuple_dict_form(tmp_path):
    x, y = mx.array(1.0), mx.array([1.0, 2.0, 3.0])
    f = _round_trip(tmp_path, lambda a, y: a - y, x, y=y)
    want = [0.0, -1.0, -2.0]
    assert _np(f(x, y=y)[0]).tolist() == want
    assert _np(f((x,), {"y": y})[0]).tolist() == want
    assert _np(f([x], {"y": y})[0]).tolist() == want
    # MLX: keywords after the positional ones, by name; the exported names must be present
    assert _np(f(y=y, a=x)[0]).tolist() == want
    assert _np(f(y=y, b=x)[0]).tolist() == want
    with pytest.raises(ValueError, match=_NO_MATCH):
        f(x, y)
    with pytest.raises(ValueError, match=_NO_MATCH):
        f(x, z=y)
    # exported as one tuple and one dict
    g = _round_trip(tmp_path, lambda a, b: a * b, (x,), {"b": y})
    assert _np(g(x, b=y)[0]).tolist() == [1.0, 2.0, 3.0]
    # exported positionally: any keyword names fill the remaining inputs, sorted by name
    h = _round_trip(tmp_path, lambda a, b: a - b, x, y)
    assert _np(h(x, zz=y)[0]).tolist() == want
    assert _np(h(b=y, a=x)[0]).tolist() == want


def test_calls_that_match_no_signature(tmp_path):
    x, y = mx.array(1.0), mx.array([1.0, 2.0, 3.0])
    f = _round_trip(tmp_path, lambda a, b: a + b, x, y)
    for bad in [(mx.array([1.0, 2.0]), y), (mx.array(1), y), (x,), (x, y, y)]:
        with pytest.raises(ValueError, match=_NO_MATCH) as e:
            f(*bad)
        assert "Function with 2 positional inputs and 0 keyword inputs" in str(e.value)
        assert "1: () float32" in str(e.value) and "2: (3) float32" in str(e.value)
    for bad in [(x, 2.0), (x, [1.0]), ((x,), y), (np.ones(3), y)]:
        with pytest.raises(ValueError, match=_INPUTS):
            f(*bad)
    with pytest.raises(ValueError, match=_INPUTS):
        f(x, y, stream=mx.cpu)  # not an option: a keyword that is not an array
    with pytest.raises(ValueError, match=_INPUTS):
        f((x,), {}, b=y)


def test_export_argument_errors(tmp_path):
    x = mx.array([1.0, 2.0])
    p = str(tmp_path / "e.mlxfn")
    for args, kwargs in [((x, 2.0), {}), ((x,), {"b": 2}), (((x,), x), {}), ((((x,),),), {})]:
        with pytest.raises(ValueError, match=r"\[export_function\] Inputs can either"):
            mx.export_function(p, lambda *a, **k: x, *args, **kwargs)
    with pytest.raises(ValueError, match=r"\[export_function\] Inputs can either"):
        mx.export_function(p, lambda a, b: a, (x,), b=x)
    for out in [lambda a: {"a": a}, lambda a: [[a]], lambda a: 3, lambda a: (a, 3)]:
        with pytest.raises(ValueError, match="Outputs can be either a single array"):
            mx.export_function(p, out, x)
    with pytest.raises(TypeError, match="Expected a callable"):
        mx.export_function(p, 3, x)
    with pytest.raises(TypeError):
        mx.export_function(3, lambda a: a, x)
    with pytest.raises(RuntimeError, match="Failed to open"):
        mx.export_function(str(tmp_path / "no" / "dir.mlxfn"), lambda a: a, x)
    with pytest.raises(ValueError, match=r"\[eval\] Attempting to eval an array"):
        mx.export_function(p, lambda a: mx.eval(a) or a, x)  # as in MLX and mx.compile


def test_random_draws_and_closures_are_constants(tmp_path):
    x = mx.zeros((4,))
    f = _round_trip(tmp_path, lambda a: a + mx.random.uniform(shape=a.shape), x)
    first = _np(f(x)[0])
    assert np.array_equal(first, _np(f(x)[0]))  # the same draw every call, as in MLX
    assert np.all((first >= 0) & (first < 1))
    c = mx.array([10.0, 20.0, 30.0, 40.0])
    g = _round_trip(tmp_path, lambda a: a * c, mx.ones((4,)))
    c = mx.zeros((4,))  # rebinding the closure does not change the exported function
    assert _np(g(mx.ones((4,)))[0]).tolist() == [10.0, 20.0, 30.0, 40.0]


def test_constants_of_every_kind_round_trip(tmp_path):
    consts = [
        mx.array([1.5, -2.25], dtype=mx.bfloat16),
        mx.array([1 + 2j, -3j], dtype=mx.complex64),
        mx.array([True, False]),
        mx.array([-7, 100], dtype=mx.int8),
        mx.array([2**40, 3], dtype=mx.uint64),
        mx.zeros((0, 3)),
    ]

    def f(a):
        return tuple(c * mx.ones_like(a).astype(c.dtype)[0] for c in consts[:5]) + (consts[5],)

    got = _round_trip(tmp_path, f, mx.ones((2,)))(mx.ones((2,)))
    for g, c in zip(got, consts):
        assert g.dtype == c.dtype and g.shape == c.shape
        assert np.array_equal(_np(g), _np(c))


def test_a_gpu_export_runs_where_there_is_no_gpu(tmp_path):
    p = str(tmp_path / "g.mlxfn")
    mx.export_function(p, _chain, mx.ones((2, 3)), mx.ones((2, 3)))

    def on_gpu(desc):
        for step in desc["steps"]:
            step[4] = "gpu"

    _tamper(p, on_gpu)  # as if exported with the GPU as the default device
    x = mx.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    _same(mx.import_function(p)(x, x), _chain(x, x))


# -- several traces ---------------------------------------------------------------------------


def test_exporter_writes_several_signatures(tmp_path):
    p = str(tmp_path / "sum.mlxfn")

    def fun(*args):
        return sum(args)

    with mx.exporter(p, fun) as ex:
        assert isinstance(ex, mx.FunctionExporter)
        ex(mx.array(1))
        ex(mx.array(1), mx.array(2))
        ex(mx.array(1), mx.array(2), mx.array(3))
        ex(mx.array(1.0), mx.array(2))
        with pytest.raises(RuntimeError, match="twice with the same signature"):
            ex(mx.array(7))
        with pytest.raises(RuntimeError, match="twice with the same signature"):
            ex(a=mx.array(7))  # keyword names are not part of the signature
    with pytest.raises(RuntimeError, match="after exporting is closed"):
        ex(mx.array(1))
    f = mx.import_function(p)
    assert f(mx.array(5))[0].item() == 5
    assert f(mx.array(5), mx.array(6))[0].item() == 11
    r = f(mx.array(5.5), mx.array(6))[0]
    assert r.dtype == mx.float32 and r.item() == 11.5
    assert f(mx.array(1), mx.array(2), mx.array(3))[0].item() == 6
    with pytest.raises(ValueError, match=_NO_MATCH) as e:
        f(mx.array(1), mx.array(2), mx.array(3), mx.array(4))
    assert str(e.value).count("Function with") == 4


def test_exporter_file_is_usable_before_close_and_with_no_traces(tmp_path):
    p = str(tmp_path / "x.mlxfn")
    ex = mx.exporter(p, lambda a: a * 3, metadata="m")
    f, meta = mx.import_function(p, return_metadata=True)
    assert meta == "m"
    with pytest.raises(ValueError, match=_NO_MATCH):
        f(mx.array(1.0))
    ex(mx.array(1.0))
    assert mx.import_function(p)(mx.array(2.0))[0].item() == 6.0
    with pytest.raises(TypeError):
        ex(mx.array(1.0), mx.array(2.0))  # fun's own error
    ex.close()
    ex.close()
    with pytest.raises(TypeError, match="no constructor"):
        mx.FunctionExporter()
    with pytest.raises(TypeError):
        mx.exporter(p, lambda a: a, True)  # shapeless is keyword-only
    with pytest.raises(TypeError):
        mx.exporter(lambda d: None, lambda a: a)  # no callback form
    with pytest.raises(RuntimeError, match="Failed to open"):
        mx.exporter(str(tmp_path / "no" / "x.mlxfn"), lambda a: a)


def test_shapeless_replays_traced_shapes_only(tmp_path):
    p = str(tmp_path / "s.mlxfn")
    mx.export_function(p, lambda a: mx.exp(a) * 2, mx.array([1.0, 2.0]), shapeless=True)
    f = mx.import_function(p)
    assert np.allclose(_np(f(mx.array([0.0, 1.0]))[0]), [2.0, 2 * np.e])
    # MLX reshapes its graph here; umx cannot without the Python function, and says so
    with pytest.raises(ValueError, match="shapeless=True.*only at the shapes"):
        f(mx.array([1.0, 2.0, 3.0]))
    # another rank or dtype is MLX's no-match error
    with pytest.raises(ValueError, match=_NO_MATCH):
        f(mx.ones((1, 3)))
    with pytest.raises(ValueError, match=_NO_MATCH):
        f(mx.array([1, 2]))
    # umx accepts one trace per shape in a shapeless exporter, covering several shapes
    with mx.exporter(p, lambda a: a.sum(axis=0), shapeless=True) as ex:
        ex(mx.ones((2, 3)))
        ex(mx.ones((4, 5)))
    g = mx.import_function(p)
    assert _np(g(mx.ones((4, 5)))[0]).tolist() == [4.0] * 5
    assert _np(g(mx.ones((2, 3)))[0]).tolist() == [2.0] * 3


# -- transforms through an imported function ------------------------------------------------


def test_grad_vmap_jvp_compile_through_an_imported_function(tmp_path, rng):
    x = mx.array(rng.standard_normal((3, 4)).astype(np.float32))
    w = mx.array(rng.standard_normal((4, 2)).astype(np.float32))

    def fun(a, b):
        return mx.tanh(a @ b), mx.exp(a).sum()

    f = _round_trip(tmp_path, fun, x, w)

    def loss(g):
        return lambda a, b: g(a, b)[0].sum() + g(a, b)[1]

    got = mx.grad(loss(f), argnums=(0, 1))(x, w)
    want = mx.grad(loss(fun), argnums=(0, 1))(x, w)
    for g, v in zip(got, want):
        np.testing.assert_allclose(_np(g), _np(v), rtol=1e-5, atol=1e-6)
    # vmap traces on one slice, which matches the exported (4,) signature
    h = _round_trip(tmp_path, lambda a, b: mx.exp(a) + b * 2, mx.ones(4), mx.ones(4))
    out = mx.vmap(lambda a: h(a, mx.ones(4))[0])(mx.zeros((3, 4)))
    assert out.shape == (3, 4) and np.allclose(_np(out), 3.0)
    _, tan = mx.jvp(lambda a: h(a, mx.ones(4))[0], [mx.zeros(4)], [mx.ones(4)])
    assert np.allclose(_np(tan[0]), 1.0)
    assert np.allclose(_np(mx.compile(lambda a: h(a, a)[0])(mx.zeros(4))), 1.0)


# -- the callback form ------------------------------------------------------------------------


def test_callback_receives_the_graph(tmp_path):
    got: list = []
    x, y = mx.array([1.0, 2.0]), mx.array([3.0, 4.0])
    mx.export_function(got.append, lambda a, y: mx.exp(a) + y * 2, x, y=y)
    assert [d["type"] for d in got[:4]] == ["inputs", "keyword_inputs", "outputs", "constants"]
    assert got[0]["inputs"] == [("A", (2,), mx.float32), ("B", (2,), mx.float32)]
    assert got[1]["keywords"] == [("y", "B")]
    assert got[2]["outputs"] == [("C", (2,), mx.float32)]
    prims = [d for d in got if d["type"] == "primitive"]
    assert sorted(d["name"] for d in prims) == ["Add", "Exp", "Multiply"]
    assert prims[-1]["outputs"] == [("C", (2,), mx.float32)]


# -- files that are not umx function files ------------------------------------------------


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(RuntimeError, match=r"\[import_function\] Failed to open"):
        mx.import_function(str(tmp_path / "missing.mlxfn"))
    junk = tmp_path / "junk.mlxfn"
    junk.write_bytes(b"\x06\x00\x00\x00\x00\x00\x00\x000.32.4")  # how MLX's files begin
    with pytest.raises(RuntimeError, match="not a umx function file"):
        mx.import_function(str(junk))
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(RuntimeError, match="not a umx function file"):
        mx.import_function(str(other))


def _tamper(path, edit):
    """Rewrite trace 0's description of the archive at ``path`` with ``edit(desc)``."""
    with zipfile.ZipFile(path) as z:
        items = {n: z.read(n) for n in z.namelist()}
    desc = json.loads(items["traces/0.json"])
    edit(desc)
    items["traces/0.json"] = json.dumps(desc).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, data in items.items():
            z.writestr(n, data)


@pytest.mark.parametrize(
    "cls",
    [
        "os:system",
        "builtins:eval",
        "subprocess:Popen",
        "umx._array:array",  # a umx class, but not a primitive
        "umx._compile:CompileInput",  # a primitive, but a trace's stand-in
        "umx.ops.unary:Exp.__init__.__globals__",
        "umxevil.ops:Exp",
    ],
)
def test_loading_refuses_classes_other_than_umx_primitives(tmp_path, cls):
    p = str(tmp_path / "t.mlxfn")
    mx.export_function(p, lambda a: mx.exp(a), mx.ones(3))
    assert mx.import_function(p)(mx.zeros(3))[0].tolist() == [1.0, 1.0, 1.0]

    def edit(desc):
        desc["steps"][0][0]["class"] = cls

    _tamper(p, edit)
    with pytest.raises(RuntimeError, match="refusing to load"):
        mx.import_function(p)


def test_loading_refuses_unknown_parameters_and_bad_slots(tmp_path):
    p = str(tmp_path / "t.mlxfn")
    mx.export_function(p, lambda a: a.sum(axis=0), mx.ones((2, 3)))

    def extra(desc):
        desc["steps"][0][0]["state"]["payload"] = "x"

    _tamper(p, extra)
    with pytest.raises(RuntimeError, match="no parameter 'payload'"):
        mx.import_function(p)
    mx.export_function(p, lambda a: a.sum(axis=0), mx.ones((2, 3)))

    def bad_slot(desc):
        desc["steps"][0][1] = [5]

    _tamper(p, bad_slot)
    with pytest.raises(RuntimeError, match="Cannot load"):
        mx.import_function(p)


def test_functions_holding_python_callables_are_not_exportable(tmp_path):
    @mx.custom_function
    def f(a):
        return a * 2

    with pytest.raises(ValueError, match="Cannot export"):
        mx.export_function(str(tmp_path / "c.mlxfn"), f, mx.ones(2))


# -- GPU --------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_gpu_export_matches_cpu(tmp_path, rng):
    x = mx.array(rng.standard_normal((16, 8)).astype(np.float32))
    w = mx.array(rng.standard_normal((8, 4)).astype(np.float32))
    p = str(tmp_path / "g.mlxfn")
    with mx.stream(mx.gpu):
        mx.export_function(p, _mlp, x, w, mx.zeros(4), mx.ones((4, 3)))
        got = mx.import_function(p)(x, w, mx.zeros(4), mx.ones((4, 3)))[0]
        mx.eval(got)
    with mx.stream(mx.cpu):
        want = _mlp(x, w, mx.zeros(4), mx.ones((4, 3)))
    np.testing.assert_allclose(_np(got), _np(want), rtol=1e-5, atol=1e-5)
    # a function exported on the CPU runs its CPU steps on the CPU even from a GPU context
    q = str(tmp_path / "c.mlxfn")
    with mx.stream(mx.cpu):
        mx.export_function(q, _chain, x, x)
    with mx.stream(mx.gpu):
        out = mx.import_function(q)(x, x)[0]
    np.testing.assert_allclose(_np(out), _np(_chain(x, x)), rtol=1e-6, atol=1e-6)
    # and grad through a GPU import agrees with the CPU
    with mx.stream(mx.gpu):
        f = mx.import_function(p)
        g = mx.grad(lambda a: f(a, w, mx.zeros(4), mx.ones((4, 3)))[0].sum())(x)
        mx.eval(g)
    with mx.stream(mx.cpu):
        h = mx.grad(lambda a: _mlp(a, w, mx.zeros(4), mx.ones((4, 3))).sum())(x)
    np.testing.assert_allclose(_np(g), _np(h), rtol=1e-4, atol=1e-5)
