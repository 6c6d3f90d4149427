"""Pytrees: the same flattening on every backend, over every container kind."""

from __future__ import annotations

import collections
import dataclasses
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import unified as u
from unified.tree import TreeStructureError


class NT(NamedTuple):
    a: object
    b: object


@dataclasses.dataclass
class DC:
    x: object
    y: object
    tag: str = dataclasses.field(default="t", metadata={"static": True})


@dataclasses.dataclass(frozen=True)
class Frozen:
    v: object

    def __post_init__(self):
        if not isinstance(self.v, (int, float, list)):
            raise ValueError("rebuilding must not call __post_init__")


def sample_tree():
    return {
        "z": [1, (2, None)],
        "a": NT(3, {"k": 4}),
        "m": DC(5, [6], tag="static"),
        "o": collections.OrderedDict([("second", 7), ("first", 8)]),
        "d": collections.defaultdict(list, {"q": 9}),
        "f": Frozen(10),
    }


def test_leaves_order_is_sorted_dict_keys_then_fields():
    assert u.tree.leaves(sample_tree()) == [3, 4, 9, 10, 5, 6, 7, 8, 1, 2]


def test_round_trip_preserves_every_container_type():
    t = sample_tree()
    leaves, treedef = u.tree.flatten(t)
    rebuilt = u.tree.unflatten(treedef, [x * 10 for x in leaves])
    assert isinstance(rebuilt["a"], NT) and rebuilt["a"].b == {"k": 40}
    assert isinstance(rebuilt["m"], DC) and rebuilt["m"].tag == "static" and rebuilt["m"].y == [60]
    assert isinstance(rebuilt["o"], collections.OrderedDict) and list(rebuilt["o"]) == ["second", "first"]
    assert isinstance(rebuilt["d"], collections.defaultdict) and rebuilt["d"].default_factory is list
    assert isinstance(rebuilt["f"], Frozen) and rebuilt["f"].v == 100
    assert rebuilt["z"] == [10, (20, None)]


def test_map_with_several_trees_and_prefix_structure():
    out = u.tree.map(lambda a, b: (a, b), {"x": 1, "y": 2}, {"x": [5, 6], "y": 7})
    assert out == {"x": (1, [5, 6]), "y": (2, 7)}
    with pytest.raises(TreeStructureError, match='differ at y: expected tuple'):
        u.tree.map(lambda a, b: a, {"x": 1, "y": (1, 2)}, {"x": 1, "y": [1, 2]})
    with pytest.raises(TreeStructureError, match="the root"):
        u.tree.map(lambda a, b: a, {"x": 1}, {"z": 1})


def test_paths_and_keystr():
    pairs = u.tree.leaves_with_path({"blocks": [{"w": 1, "b": 2}], "head": NT(3, 4)})
    assert [(u.tree.keystr(p), x) for p, x in pairs] == [
        ("blocks.0.b", 2), ("blocks.0.w", 1), ("head.a", 3), ("head.b", 4)]


def test_is_leaf_and_structure_equality():
    t = {"a": [1, 2], "b": (3,)}
    assert u.tree.leaves(t, is_leaf=lambda x: isinstance(x, list)) == [[1, 2], 3]
    assert u.tree.structure(t) == u.tree.structure({"a": [0, 0], "b": (0,)})
    assert u.tree.structure(t) != u.tree.structure({"a": [0, 0], "b": [0]})
    assert hash(u.tree.structure(t)) == hash(u.tree.structure({"a": [9, 9], "b": (9,)}))
    assert u.tree.reduce(lambda x, y: x + y, t, 100) == 106


def test_unflatten_checks_the_number_of_leaves():
    _, treedef = u.tree.flatten([1, 2])
    with pytest.raises(TreeStructureError, match="fewer"):
        treedef.unflatten([1])
    with pytest.raises(TreeStructureError, match="more"):
        treedef.unflatten([1, 2, 3])


def test_arrays_are_leaves_and_framework_nodes_are_flattened(backend):
    t = {"w": u.ops.ones(2), "n": None}
    assert len(u.tree.leaves(t)) == 1
    if backend == "jax":
        import jax

        @jax.tree_util.register_pytree_node_class
        class Box:
            def __init__(self, v):
                self.v = v

            def tree_flatten(self):
                return (self.v,), None

            @classmethod
            def tree_unflatten(cls, aux, children):
                return cls(*children)

        out = u.tree.map(lambda x: x * 2, {"box": Box(u.asarray(3.0))})
        assert isinstance(out["box"], Box) and float(out["box"].v) == 6.0


def test_the_same_order_on_both_backends(both):
    rng = np.random.default_rng(0)
    base = {"b": [rng.standard_normal(2).astype(np.float32)], "a": {"y": np.float32(1), "x": np.float32(2)}}
    orders = []
    for name in both:
        with u.use_backend(name):
            t = u.tree.map(u.asarray, base)
            orders.append([u.to_numpy(x).tolist() for x in u.tree.leaves(t)])
    assert orders[0] == orders[1]


trees = st.recursive(
    st.integers(),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.tuples(children, children),
        st.dictionaries(st.text("abc", min_size=1, max_size=2), children, max_size=3),
        st.builds(NT, children, children),
        st.builds(DC, children, children),
        st.none(),
    ),
    max_leaves=12,
)


@given(trees)
def test_flatten_unflatten_round_trip_property(tree):
    leaves, treedef = u.tree.flatten(tree)
    assert treedef.num_leaves == len(leaves)
    assert u.tree.unflatten(treedef, leaves) == tree
    assert u.tree.map(lambda x: x, tree) == tree
    assert [p for p, _ in u.tree.leaves_with_path(tree)] == [p for p, _ in u.tree.flatten_with_path(tree)[0]]


def test_modules_are_nodes_under_jax_and_leaves_under_torch(backend):
    from unified import _backend, nn

    layer = nn.Linear(2, 3)
    _backend.owner(layer)  # whatever the dispatch caches hold, the answer is the same
    leaves = u.tree.leaves(layer)
    if backend == "jax":
        assert len(leaves) == 2  # weight and bias: a pytree, as jax.tree.leaves sees it
        doubled = u.tree.map(lambda a: a * 2, layer)
        assert isinstance(doubled, nn.Linear)
    else:
        assert leaves == [layer]  # a torch.nn.Module is not a pytree
