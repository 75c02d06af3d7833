"""The autodiff engine and the functional transforms built on it.

Every op made by a recorded op holds its parents and a backward function
``backward(g, out) -> grads`` (one per parent, None where no gradient flows).
:func:`backward` visits the nodes in reverse order of creation (a node is always
made after its parents, so this is a reverse topological order) and sums the
gradients flowing into each tensor.  With ``create_graph=True`` the walk
itself is recorded, because every VJP is written with lamina ops: this is what
makes grad-of-grad work.
"""
from __future__ import annotations

import functools
import heapq

import numpy as np

from .backend import get_xp
from .tensor import Tensor, _wrap, _node


class _GradModeSwitch:
    """Global switch: when ``enabled`` is False no op records a graph."""

    # one slotted instance rather than a class attribute: every op reads it, and writing a
    # class attribute would reset the class's attribute caches at each no_grad/backward
    __slots__ = ("enabled",)

    def __init__(self):
        self.enabled = True


GradMode = _GradModeSwitch()


def is_grad_enabled() -> bool:
    return GradMode.enabled


class set_grad_enabled:
    """Context manager / decorator turning graph recording on or off."""

    __slots__ = ("mode", "prev")    # made once per optimizer step: kept small and cheap

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.prev = []

    def __enter__(self):
        self.prev.append(GradMode.enabled)
        GradMode.enabled = self.mode
        return self

    def __exit__(self, *exc):
        GradMode.enabled = self.prev.pop()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)(self.mode) if type(self) is set_grad_enabled else type(self)():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(set_grad_enabled):
    """``with lamina.no_grad():`` runs ops without recording (inference, updates).
    Also a decorator, written ``@lamina.no_grad()`` or ``@lamina.no_grad``."""

    __slots__ = ()

    def __new__(cls, func=None):
        # set_grad_enabled.__init__(False) spelled out here, and object's __init__ below:
        # this runs once per optimizer step
        self = object.__new__(cls)
        self.mode = False
        self.prev = []
        if func is not None:            # used as a bare decorator
            return self(func)
        return self

    __init__ = object.__init__


class enable_grad(set_grad_enabled):
    """Turn recording back on inside a ``no_grad`` block (also a decorator)."""

    __slots__ = ()

    def __new__(cls, func=None):
        self = super().__new__(cls)
        if func is not None:
            self.__init__()
            return self(func)
        return self

    def __init__(self, func=None):
        super().__init__(True)


# ----------------------------------------------------------------- the engine
def _freed_backward(g, out):
    raise RuntimeError(
        f"backward: the graph through this tensor (made by '{out._op}') was already freed by an "
        "earlier backward(); pass retain_graph=True to the first backward() to walk it twice")


def _version_error(t):
    for p, v in zip(t._parents, t._versions):
        if p._version != v:
            raise RuntimeError(
                f"backward of '{t._op}': an input of shape {p.shape} was modified in place "
                f"after it was used (version {p._version}, expected {v}); the gradient would be "
                "wrong. Make a copy before changing it in place.")


def _shape_error(t, p, pg):
    raise RuntimeError(f"backward of '{t._op}' returned a gradient of shape {pg.shape} for an "
                       f"input of shape {p.shape}")


def _apply_hooks(t, g):
    """``g`` after ``t``'s hooks, in order; a hook returning a tensor replaces the gradient."""
    for hook in tuple(t._hooks):
        res = hook(g)
        if res is not None:
            g = res
    return g


def _add_found(found, i, g):
    """Sum gradient ``g`` into slot ``i`` of the requested targets' gradients."""
    found[i] = g if found[i] is None else found[i] + g


def _accumulate(t, g):
    """Add a first-order gradient ``g`` to leaf ``t``'s ``.grad``, which owns its memory."""
    if g.requires_grad:
        g = g.detach()
    elif g.data.base is not None and not getattr(g.data.flags, "writeable", True):
        g = _wrap(g.data.copy())     # a broadcast view: .grad owns its memory
    og = t.grad
    t.grad = g if og is None else og + g


def _run(roots, root_grads, retain_graph, create_graph, targets=None):
    """Walk the graph from ``roots``.  Without ``targets`` gradients accumulate into
    the leaves' ``.grad``; with ``targets`` (a list of tensors) they are returned.

    Nodes are taken from a heap by decreasing creation number, so each node is
    reached after every node that consumed it (PyTorch's scheme): no separate
    topological sort, and each node is visited once.  Along a chain (a node whose only
    waiting successor is one parent) that parent and its gradient are carried straight to
    the next turn, without the heap and the gradient table: nothing else can still feed
    it, since every node left to visit was created before it.
    """
    grads = {}          # id(tensor) -> gradient summed so far, for nodes on the heap
    heap = []           # (-seq, tensor) of the recorded nodes waiting for their turn; seq
    #                     numbers are unique, so tensors themselves are never compared
    leaves = []
    push, pop = heapq.heappush, heapq.heappop
    gget, gpop, leaf = grads.get, grads.pop, leaves.append     # bound once: the hot loop
    t = g = None
    if len(roots) == 1 and roots[0]._backward is not None:
        t, g = roots[0], root_grads[0]      # loss.backward(): the root starts the chain
    else:
        for r, rg in zip(roots, root_grads):
            if not r.requires_grad:
                continue
            k = id(r)
            prev = gget(k)
            if prev is None:
                grads[k] = rg
                if r._backward is None:
                    leaf(r)
                else:
                    push(heap, (-r._seq, r))
            else:
                grads[k] = prev + rg
        if heap:
            t = pop(heap)[1]
            g = gpop(id(t))
    target_ids = None if targets is None else {id(t): i for i, t in enumerate(targets)}
    direct = targets is None and not create_graph
    found = [None] * (0 if targets is None else len(targets))
    prev_mode = GradMode.enabled
    GradMode.enabled = create_graph
    try:
        while t is not None:
            if t._hooks:
                g = _apply_hooks(t, g)
            if target_ids is not None:
                i = target_ids.get(id(t))
                if i is not None:
                    _add_found(found, i, g)
            elif t._retain:
                t.grad = g if t.grad is None else t.grad + g
            parents = t._parents
            vs = t._versions
            n = len(parents)    # freed nodes have no parents left (their backward raises)
            # the common arities spelled out: half the cost of a zip loop
            if n == 1:
                if parents[0]._version != vs[0]:
                    _version_error(t)
            elif n == 2:
                if parents[0]._version != vs[0] or parents[1]._version != vs[1]:
                    _version_error(t)
            elif n == 3:
                if parents[0]._version != vs[0] or parents[1]._version != vs[1] or \
                        parents[2]._version != vs[2]:
                    _version_error(t)
            else:
                for p, v in zip(parents, vs):
                    if p._version != v:
                        _version_error(t)
            nxt = nxt_g = None      # the one node waiting, while it is the only one
            for p, pg in zip(parents, t._backward(g, t)):
                if pg is None or not p.requires_grad:
                    continue
                if pg.data.shape != p.data.shape:
                    _shape_error(t, p, pg)
                if p._backward is None:
                    if direct and p._hooks is None:
                        # loss.backward()'s leaves (parameters): the gradient goes straight to
                        # .grad, with no table entry and no second pass.  Without hooks no one
                        # sees a leaf's partial sums, so adding each part as it arrives gives
                        # the same .grad as adding them first.
                        _accumulate(p, pg)
                        continue
                    k = id(p)
                    prev = gget(k)
                    if prev is None:
                        grads[k] = pg
                        leaf(p)
                    else:
                        grads[k] = prev + pg if create_graph else _wrap(prev.data + pg.data)
                    continue
                if p is nxt:        # the same parent twice (h * h)
                    nxt_g = nxt_g + pg if create_graph else _wrap(nxt_g.data + pg.data)
                    continue
                if nxt is None and not heap:
                    # nothing else waits, so no gradient of p's can be waiting either: a
                    # recorded node has a table entry only while it is on the heap
                    nxt, nxt_g = p, pg
                    continue
                k = id(p)
                prev = gget(k)
                if prev is not None:
                    grads[k] = prev + pg if create_graph else _wrap(prev.data + pg.data)
                else:
                    if nxt is not None:     # two waiting: the heap orders them
                        grads[id(nxt)] = nxt_g
                        push(heap, (-nxt._seq, nxt))
                        nxt = None
                    grads[k] = pg
                    push(heap, (-p._seq, p))
            if not retain_graph:
                # the versions stay: with no parents left they are never compared again
                t._backward = _freed_backward
                t._parents = ()
            if nxt is not None:
                t, g = nxt, nxt_g
            elif heap:
                t = pop(heap)[1]
                g = gpop(id(t))
            else:
                t = None
        for t in leaves:
            g = gpop(id(t))
            if t._hooks:
                g = _apply_hooks(t, g)
            if target_ids is not None:
                i = target_ids.get(id(t))
                if i is not None:
                    _add_found(found, i, g)
                continue
            if create_graph:
                t.grad = g if t.grad is None else t.grad + g
            else:
                _accumulate(t, g)
    finally:
        GradMode.enabled = prev_mode
    return found


def _seed_grad(out, grad, who):
    if grad is None:
        d = out.data
        if d.size == 1:
            if type(d) is np.ndarray:
                # np.array(1) is a fraction of np.ones' cost (a Python-level function)
                one = np.array(1, d.dtype)
                return _wrap(one if d.ndim == 0 else one.reshape(d.shape))
            return _wrap(get_xp(d).ones_like(d))
        if d.size != 1:
            raise RuntimeError(f"{who}: the output has shape {out.shape}; backward() without a "
                               "gradient needs a scalar output. Pass grad= of the output's shape "
                               "(or reduce with .sum() / .mean()).")
        from . import creation
        return creation.ones_like(out)
    g = grad if isinstance(grad, Tensor) else Tensor(grad, dtype=out.dtype)
    if g.shape != out.shape:
        raise ValueError(f"{who}: grad of shape {g.shape} does not match the output's shape "
                         f"{out.shape}")
    return g


def backward(tensor, grad=None, retain_graph=False, create_graph=False):
    """Accumulate d(tensor)/d(leaf) into ``.grad`` of every leaf that requires grad."""
    if not tensor.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph; did "
                           "you compute it under no_grad(), or from inputs without "
                           "requires_grad=True?")
    d = tensor.data
    if grad is None and type(d) is np.ndarray and d.ndim == 0:
        g = _wrap(np.array(1, d.dtype))     # the usual seed (a scalar loss), made inline
    else:
        g = _seed_grad(tensor, grad, "backward")
    _run([tensor], [g], retain_graph or create_graph, create_graph)


def gradients(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
              allow_unused=True):
    """Gradients of ``outputs`` w.r.t. ``inputs`` (like ``torch.autograd.grad``).

    Returns a list with one Tensor per input (None for an input the outputs do
    not depend on, unless ``allow_unused=False`` which raises).  ``.grad`` of the
    leaves is left untouched.
    """
    single_out = isinstance(outputs, Tensor)
    outs = [outputs] if single_out else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        gos = [None] * len(outs)
    elif isinstance(grad_outputs, Tensor) or not isinstance(grad_outputs, (list, tuple)):
        gos = [grad_outputs]
    else:
        gos = list(grad_outputs)
    seeds, roots = [], []
    for o, go in zip(outs, gos):
        if not o.requires_grad:
            continue
        roots.append(o)
        seeds.append(_seed_grad(o, go, "gradients"))
    if retain_graph is None:
        retain_graph = create_graph
    found = _run(roots, seeds, retain_graph, create_graph, targets=ins) if roots else [None] * len(ins)
    if not allow_unused:
        for i, (x, g) in enumerate(zip(ins, found)):
            if g is None:
                raise RuntimeError(f"gradients: input {i} (shape {x.shape}) is not used by the "
                                   "outputs; pass allow_unused=True to get None for it")
    if not create_graph:
        found = [None if g is None else (g.detach() if g.requires_grad else g) for g in found]
    return found


# ----------------------------------------------------- functional transforms
def _tree_flatten(tree):
    """Leaves of nested lists/tuples/dicts, and a function rebuilding the structure."""
    if isinstance(tree, (list, tuple)):
        parts = [_tree_flatten(x) for x in tree]
        leaves = [l for p in parts for l in p[0]]
        sizes = [len(p[0]) for p in parts]
        kind = type(tree)

        def unflatten(vals):
            out, i = [], 0
            for (_, un), n in zip(parts, sizes):
                out.append(un(vals[i:i + n]))
                i += n
            return kind(out) if kind in (list, tuple) else kind(*out)
        return leaves, unflatten
    if isinstance(tree, dict):
        keys = list(tree)
        leaves, un = _tree_flatten([tree[k] for k in keys])
        return leaves, lambda vals: dict(zip(keys, un(vals)))
    return [tree], lambda vals: vals[0]


def _identity_node(x):
    """``x`` again, as a new tensor recorded as a function of ``x``."""
    return _node(x.data, (x,), lambda g, out: (g,), "identity")


def _as_input(x):
    """A tensor to differentiate with respect to, keeping any outer graph alive."""
    if isinstance(x, Tensor):
        if x.requires_grad and GradMode.enabled:
            return _identity_node(x), True
        return x.detach().requires_grad_(True), False
    from . import backend
    t = Tensor(x)
    if t.dtype.kind not in "fc":
        t = t.astype(backend.default_dtype())
    return t.requires_grad_(True), False


def _prepare(args, argnums):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    args = list(args)
    flat_inputs, rebuilders, nested = [], [], False
    for n in nums:
        if n >= len(args):
            raise ValueError(f"grad: argnums={argnums} but the function got {len(args)} arguments")
        leaves, un = _tree_flatten(args[n])
        made = []
        for leaf in leaves:
            t, outer = _as_input(leaf)
            nested |= outer
            made.append(t)
        args[n] = un(made)
        flat_inputs.append(made)
        rebuilders.append(un)
    return args, nums, flat_inputs, rebuilders, nested


def _scalar_output(out, who):
    if not isinstance(out, Tensor):
        raise TypeError(f"{who}: the function must return a scalar Tensor, got {type(out).__name__}")
    if out.data.size != 1:
        raise ValueError(f"{who}: the function must return a scalar, got shape {out.shape}")
    return out


def value_and_grad(f, argnums=0, has_aux=False):
    """Like :func:`grad`, but the new function returns ``(value, grads)``
    (``((value, aux), grads)`` with ``has_aux``)."""
    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        from . import creation
        with enable_grad():
            new_args, nums, flat, rebuild, nested = _prepare(args, argnums)
            res = f(*new_args, **kwargs)
            if has_aux:
                if not (isinstance(res, tuple) and len(res) == 2):
                    raise TypeError("grad(has_aux=True): the function must return (value, aux)")
                out, aux = res
            else:
                out, aux = res, None
            _scalar_output(out, "grad")
            all_inputs = [t for group in flat for t in group]
            gs = gradients(out, all_inputs, create_graph=nested, retain_graph=nested)
        gs = [creation.zeros_like(x) if g is None else g for x, g in zip(all_inputs, gs)]
        results, i = [], 0
        for group, un in zip(flat, rebuild):
            results.append(un(gs[i:i + len(group)]))
            i += len(group)
        grads = results[0] if isinstance(argnums, int) else tuple(results)
        value = out if nested else out.detach()
        return ((value, aux), grads) if has_aux else (value, grads)
    return wrapped


def grad(f, argnums=0, has_aux=False):
    """Return a function computing the gradient of scalar ``f`` w.r.t. argument(s) ``argnums``.

    Arguments may be tensors, arrays, numbers or nested lists/tuples/dicts of them;
    the gradient has the same structure.  Nesting works: ``grad(grad(f))``.
    """
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        if has_aux:
            (_, aux), g = vg(*args, **kwargs)
            return g, aux
        return vg(*args, **kwargs)[1]
    return wrapped


def vjp(f, *primals):
    """Evaluate ``f(*primals)`` and return ``(out, vjp_fn)``; ``vjp_fn(cotangent)`` gives
    one gradient per primal (the cotangent has the structure of ``out``)."""
    with enable_grad():
        made, nested = [], False
        for p in primals:
            t, outer = _as_input(p)
            made.append(t)
            nested |= outer
        out = f(*made)
    out_leaves, _ = _tree_flatten(out)

    def vjp_fn(cotangent):
        from . import creation
        cts, _ = _tree_flatten(cotangent)
        if len(cts) != len(out_leaves):
            raise ValueError(f"vjp: cotangent has {len(cts)} leaves, the output has {len(out_leaves)}")
        cts = [c if isinstance(c, Tensor) else Tensor(c, dtype=o.dtype) for c, o in zip(cts, out_leaves)]
        with enable_grad():
            gs = gradients(out_leaves, made, grad_outputs=cts, retain_graph=True,
                           create_graph=nested or GradMode.enabled and any(c.requires_grad for c in cts))
        return tuple(creation.zeros_like(x) if g is None else g for x, g in zip(made, gs))

    value = out if nested else _detach_tree(out)
    return value, vjp_fn


def _detach_tree(tree):
    leaves, un = _tree_flatten(tree)
    return un([l.detach() if isinstance(l, Tensor) else l for l in leaves])


def jacobian(f, argnums=0):
    """Return a function computing the Jacobian of ``f``: shape ``out.shape + in.shape``.
    ``f`` may return nested lists/tuples/dicts of tensors (the result has that structure,
    one Jacobian per output leaf); with a tuple ``argnums`` each leaf holds a tuple, one
    Jacobian per argument.  One reverse pass per output entry: meant for small outputs."""
    def wrapped(*args):
        from . import creation
        from .ops import shape as S
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        others = list(args)

        def g(*sel):
            a = list(others)
            for n, v in zip(nums, sel):
                a[n] = v
            return f(*a)
        out, fn = vjp(g, *[args[n] for n in nums])
        leaves, rebuild = _tree_flatten(out)
        in_shapes = [Tensor(args[n]).shape for n in nums]
        per_leaf = []
        for li, leaf in enumerate(leaves):
            rows = [[] for _ in nums]
            n_out = leaf.data.size
            for k in range(n_out):
                cts = [creation.zeros_like(o) for o in leaves]
                cts[li].data.reshape(-1)[k] = 1
                for i, gi in enumerate(fn(rebuild(cts))):
                    rows[i].append(gi)
            jacs = []
            for i, in_shape in enumerate(in_shapes):
                if rows[i]:
                    j = S.stack(rows[i], axis=0)
                else:
                    j = creation.zeros((0,) + tuple(in_shape), dtype=leaf.dtype)
                jacs.append(S.reshape(j, tuple(leaf.shape) + tuple(in_shape)))
            per_leaf.append(jacs[0] if isinstance(argnums, int) else tuple(jacs))
        return rebuild(per_leaf)
    return wrapped


def hessian(f, argnums=0):
    """The Hessian of scalar ``f``: the Jacobian of its gradient, shape ``in.shape * 2``.
    With a tuple ``argnums`` the result is nested: ``H[i][j]`` = d2f / d(arg i) d(arg j)."""
    g = grad(f, argnums)
    if isinstance(argnums, int):
        return jacobian(g, argnums)

    def wrapped(*args):
        return tuple(jacobian(lambda *a, i=i: g(*a)[i], argnums)(*args)
                     for i in range(len(argnums)))
    return wrapped


# -------------------------------------------------------------- custom ops
class FunctionCtx:
    """Scratch space handed to a custom :class:`Function`'s forward and backward."""

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


class Function:
    """A user-defined op with its own gradient, in PyTorch's style.

    Subclass with ``@staticmethod forward(ctx, *args)`` (runs without recording,
    returns a Tensor) and ``@staticmethod backward(ctx, grad)`` (returns one gradient
    per forward argument, None for non-tensors), then call ``MyOp.apply(*args)``.
    """

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        ctx = FunctionCtx()
        with no_grad():
            out = cls.forward(ctx, *args)
        if not isinstance(out, Tensor):
            out = Tensor(out)
        tensor_pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        parents = tuple(args[i] for i in tensor_pos)
        if not (GradMode.enabled and any(p.requires_grad for p in parents)):
            return _wrap(out.data)

        def back(g, out_t):
            res = cls.backward(ctx, g)
            if not isinstance(res, tuple):
                res = (res,)
            if len(res) != len(args):
                raise RuntimeError(f"{cls.__name__}.backward returned {len(res)} gradients for "
                                   f"{len(args)} forward arguments")
            return tuple(_as_grad(res[i], args[i]) for i in tensor_pos)
        return _node(out.data, parents, back, cls.__name__)


def _as_grad(g, like):
    if g is None or isinstance(g, Tensor):
        return g
    return Tensor(g, dtype=like.dtype)


def custom_gradient(f):
    """Decorator in TensorFlow's style: ``f(*xs)`` returns ``(y, grad_fn)`` where
    ``grad_fn(dy)`` returns the gradient(s) for the tensor arguments."""
    @functools.wraps(f)
    def wrapped(*args):
        with no_grad():
            y, grad_fn = f(*args)
        parents = tuple(a for a in args if isinstance(a, Tensor))
        y = y if isinstance(y, Tensor) else Tensor(y)
        if not (GradMode.enabled and any(p.requires_grad for p in parents)):
            return _wrap(y.data)

        def back(g, out):
            res = grad_fn(g)
            if not isinstance(res, (tuple, list)):
                res = (res,)
            if len(res) != len(parents):
                raise RuntimeError(f"custom_gradient {f.__name__}: grad_fn returned {len(res)} "
                                   f"gradients for {len(parents)} tensor arguments")
            return tuple(_as_grad(r, p) for r, p in zip(res, parents))
        return _node(y.data, parents, back, f.__name__)
    return wrapped


class GradientTape:
    """Keras/TensorFlow-style tape over lamina's always-on recording.

    ``with GradientTape() as tape: loss = ...`` then ``tape.gradient(loss, vars)``.
    Operations are recorded by the tensors themselves; the tape only decides
    whether the graph is kept (``persistent``) and which constants to ``watch``.
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = persistent
        self._watched = []

    _active = 0         # tapes whose ``with`` block is running (nesting => second order)

    def __enter__(self):
        self._mode = enable_grad()
        self._mode.__enter__()
        GradientTape._active += 1
        return self

    def __exit__(self, *exc):
        GradientTape._active -= 1
        self._mode.__exit__(*exc)
        return False

    def watch(self, tensor):
        """Record ops on ``tensor`` (or a list of tensors) even if it is a constant."""
        leaves, _ = _tree_flatten(tensor)
        for t in leaves:
            if not t.requires_grad:
                t.requires_grad_(True)
                self._watched.append(t)

    def gradient(self, target, sources, output_gradients=None):
        """Gradients of ``target`` w.r.t. ``sources`` (same structure; None if unconnected)."""
        leaves, un = _tree_flatten(sources)
        gs = gradients(target, leaves, grad_outputs=output_gradients,
                       retain_graph=self.persistent, create_graph=GradMode.enabled and self._nested())
        return un(gs)

    def _nested(self):
        # called inside a tape's block: an outer tape may differentiate this gradient
        return GradientTape._active > 0
