"""Tests of the RFC 9162 Merkle helpers: transparency-dev vectors and list/reader agreement."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from voucher_service.ledger import merkle
from voucher_service.ledger.merkle import NodeReader

VECTORS = Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "merkle"
MISSING_VECTORS = f"transparency-dev Merkle vectors not found in {VECTORS}"
MAX_SIZE = 70

# The leaves behind the transparency-dev vectors (proof/verify_test.go), so that our
# generators can be checked against their happy-path proofs too.
VECTOR_LEAF_DATA = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
VECTOR_LEAF_DATA.append("606162636465666768696a6b6c6d6e6f")
VECTOR_LEAVES = [merkle.leaf_hash(bytes.fromhex(h)) for h in VECTOR_LEAF_DATA]


def _vector_params(kind: str) -> list[Any]:
    if not VECTORS.is_dir():
        return [pytest.param(None, id=f"{kind}-vectors-missing")]
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [pytest.param(path, id=str(path.relative_to(VECTORS))) for path in files]


def _load(path: Path | None) -> dict[str, Any]:
    if path is None:
        pytest.skip(MISSING_VECTORS)
    case: dict[str, Any] = json.loads(path.read_text())
    case["proof"] = [base64.b64decode(h) for h in case["proof"] or []]
    return case


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


@pytest.mark.parametrize("path", _vector_params("inclusion"))
def test_inclusion_vector(path: Path | None) -> None:
    case = _load(path)
    verified = merkle.verify_inclusion(
        case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), case["proof"], _b64(case["root"])
    )
    assert verified is not case["wantErr"], case["desc"]


@pytest.mark.parametrize("path", _vector_params("consistency"))
def test_consistency_vector(path: Path | None) -> None:
    case = _load(path)
    verified = merkle.verify_consistency(
        case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), case["proof"]
    )
    assert verified is not case["wantErr"], case["desc"]


def _happy_paths(kind: str) -> list[dict[str, Any]]:
    if not VECTORS.is_dir():
        pytest.skip(MISSING_VECTORS)
    cases = [_load(p) for p in sorted((VECTORS / kind).glob("[0-9]*/happy-path.json"))]
    assert cases, f"no happy-path {kind} vectors in {VECTORS}"
    return cases


def test_vectors_hold_both_valid_and_broken_cases() -> None:
    if not VECTORS.is_dir():
        pytest.skip(MISSING_VECTORS)
    for kind in ("inclusion", "consistency"):
        cases = [json.loads(p.read_text()) for p in (VECTORS / kind).rglob("*.json")]
        assert any(c["wantErr"] for c in cases)
        assert any(not c["wantErr"] for c in cases)


def test_generated_inclusion_proofs_match_the_happy_path_vectors() -> None:
    for case in _happy_paths("inclusion"):
        leaves = VECTOR_LEAVES[: case["treeSize"]]
        assert merkle.leaf_hash(b"") == leaves[0]
        assert leaves[case["leafIdx"]] == _b64(case["leafHash"])
        assert merkle.inclusion_proof(case["leafIdx"], leaves) == case["proof"]
        assert merkle.root(leaves) == _b64(case["root"])


def test_generated_consistency_proofs_match_the_happy_path_vectors() -> None:
    for case in _happy_paths("consistency"):
        leaves = VECTOR_LEAVES[: case["size2"]]
        assert merkle.consistency_proof(case["size1"], leaves) == case["proof"]
        assert merkle.root(leaves[: case["size1"]]) == _b64(case["root1"])
        assert merkle.root(leaves) == _b64(case["root2"])


def test_hashes_are_domain_separated_sha256() -> None:
    assert merkle.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    left, right = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    assert merkle.node_hash(left, right) != merkle.node_hash(right, left)
    assert merkle.root([]) == merkle.EMPTY_ROOT
    assert merkle.root([left]) == left


# --- The list-based and reader-based constructions agree, for every size up to MAX_SIZE.

LEAVES = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(MAX_SIZE)]


def _stored_nodes() -> dict[tuple[int, int], bytes]:
    tree = merkle.CompactRange()
    nodes: dict[tuple[int, int], bytes] = {}
    for leaf in LEAVES:
        nodes.update({(level, index): h for level, index, h in tree.append(leaf)})
    return nodes


NODES = _stored_nodes()


def read_node(level: int, index: int) -> bytes:
    return NODES[level, index]


class CountingReader:
    """Serves stored subtrees completed by `size` leaves, and counts how many it served."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.reads = 0

    def __call__(self, level: int, index: int) -> bytes:
        assert (index + 1) << level <= self.size, f"({level}, {index}) is not complete yet"
        self.reads += 1
        return NODES[level, index]


def _log_bound(size: int) -> int:
    return 3 * max(size, 1).bit_length() + 1


def _flipped(proof: list[bytes], at: int) -> list[bytes]:
    changed = list(proof)
    changed[at] = bytes([changed[at][0] ^ 1]) + changed[at][1:]
    return changed


SIZES = range(MAX_SIZE + 1)


@pytest.mark.parametrize("size", SIZES)
def test_roots_agree(size: int) -> None:
    reader = CountingReader(size)
    expected = merkle.root(LEAVES[:size])
    assert merkle.root_from_reader(size, reader) == expected
    assert reader.reads == size.bit_count()
    assert merkle.CompactRange.from_reader(size, CountingReader(size)).root() == expected


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs_agree_and_verify(size: int) -> None:
    tree_root = merkle.root(LEAVES[:size])
    for index in range(size):
        reader = CountingReader(size)
        proof = merkle.inclusion_proof(index, LEAVES[:size])
        assert merkle.inclusion_proof_from_reader(index, size, reader) == proof
        assert reader.reads <= _log_bound(size)
        assert merkle.verify_inclusion(index, size, LEAVES[index], proof, tree_root)
        for at in range(len(proof)):
            assert not merkle.verify_inclusion(
                index, size, LEAVES[index], _flipped(proof, at), tree_root
            )


@pytest.mark.parametrize("size2", SIZES)
def test_consistency_proofs_agree_and_verify(size2: int) -> None:
    root2 = merkle.root(LEAVES[:size2])
    for size1 in range(1, size2 + 1):
        reader = CountingReader(size2)
        root1 = merkle.root(LEAVES[:size1])
        proof = merkle.consistency_proof(size1, LEAVES[:size2])
        assert merkle.consistency_proof_from_reader(size1, size2, reader) == proof
        assert reader.reads <= _log_bound(size2)
        assert merkle.verify_consistency(size1, size2, root1, root2, proof)
        for at in range(len(proof)):
            assert not merkle.verify_consistency(size1, size2, root1, root2, _flipped(proof, at))


def test_a_flipped_root_or_leaf_fails() -> None:
    size, index = 13, 6
    tree_root = merkle.root(LEAVES[:size])
    proof = merkle.inclusion_proof(index, LEAVES[:size])
    bad_root = _flipped([tree_root], 0)[0]
    assert not merkle.verify_inclusion(index, size, LEAVES[index], proof, bad_root)
    assert not merkle.verify_inclusion(index, size, LEAVES[index + 1], proof, tree_root)
    consistency = merkle.consistency_proof(5, LEAVES[:size])
    root1 = merkle.root(LEAVES[:5])
    assert not merkle.verify_consistency(5, size, root1, bad_root, consistency)
    assert not merkle.verify_consistency(5, size, _flipped([root1], 0)[0], tree_root, consistency)


# --- The compact range that a sequencer keeps.


def test_append_returns_every_subtree_it_completes() -> None:
    tree = merkle.CompactRange()
    for index, leaf in enumerate(LEAVES):
        completed = tree.append(leaf)
        levels = ((index + 1) & -(index + 1)).bit_length()
        assert [(level, i) for level, i, _ in completed] == [
            (level, index >> level) for level in range(levels)
        ]
        for level, i, node in completed:
            assert node == merkle.root(LEAVES[i << level : (i + 1) << level])
        assert tree.size == index + 1
        assert tree.root() == merkle.root(LEAVES[: index + 1])


def test_a_range_rebuilt_from_storage_keeps_appending() -> None:
    resumed = merkle.CompactRange.from_reader(37, CountingReader(37))
    for leaf in LEAVES[37:]:
        resumed.append(leaf)
    assert resumed.root() == merkle.root(LEAVES)
    assert resumed.hashes == merkle.CompactRange.from_reader(MAX_SIZE, read_node).hashes


def test_appending_costs_amortised_constant_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real_node_hash = merkle.node_hash

    def counting_node_hash(left: bytes, right: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return real_node_hash(left, right)

    monkeypatch.setattr(merkle, "node_hash", counting_node_hash)
    tree = merkle.CompactRange()
    for leaf in LEAVES:
        tree.append(leaf)
    assert calls < len(LEAVES)


# --- Bad input: generators refuse it loudly, verifiers just say no.

GARBAGE: list[Any] = [None, "abc", -1, 1.5, True, [b"x"], object()]


@pytest.mark.parametrize("junk", GARBAGE)
def test_verifiers_never_raise_on_garbage(junk: Any) -> None:
    good = merkle.leaf_hash(b"x")
    assert not merkle.verify_inclusion(junk, 1, good, [], good)
    assert not merkle.verify_inclusion(0, junk, good, [], good)
    assert not merkle.verify_inclusion(0, 1, junk, [], good)
    assert not merkle.verify_inclusion(0, 1, good, junk, good)
    assert not merkle.verify_inclusion(0, 1, good, [junk], good)
    assert not merkle.verify_inclusion(0, 1, good, [], junk)
    assert not merkle.verify_consistency(junk, 2, good, good, [good])
    assert not merkle.verify_consistency(1, junk, good, good, [good])
    assert not merkle.verify_consistency(1, 2, junk, good, [good])
    assert not merkle.verify_consistency(1, 2, good, junk, [good])
    assert not merkle.verify_consistency(1, 2, good, good, junk)
    assert not merkle.verify_consistency(1, 1, good, good, [junk])


def test_verifiers_refuse_indices_beyond_the_tree() -> None:
    proof = merkle.inclusion_proof(3, LEAVES[:8])
    root = merkle.root(LEAVES[:8])
    assert not merkle.verify_inclusion(3 + 2**64, 8, LEAVES[3], proof, root)
    assert not merkle.verify_inclusion(8, 8, LEAVES[3], proof, root)
    assert not merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])


BAD_CALLS: list[Callable[[], object]] = [
    lambda: merkle.inclusion_proof(0, []),
    lambda: merkle.inclusion_proof(-1, LEAVES[:4]),
    lambda: merkle.inclusion_proof(4, LEAVES[:4]),
    lambda: merkle.consistency_proof(0, LEAVES[:4]),
    lambda: merkle.consistency_proof(5, LEAVES[:4]),
    lambda: merkle.root([b"entry, not a leaf hash"]),
    lambda: merkle.inclusion_proof_from_reader(4, 4, read_node),
    lambda: merkle.consistency_proof_from_reader(0, 4, read_node),
    lambda: merkle.consistency_proof_from_reader(5, 4, read_node),
    lambda: merkle.root_from_reader(-1, read_node),
    lambda: merkle.root_from_reader(3, lambda level, index: b"short"),
    lambda: merkle.CompactRange(3, LEAVES[:1]),
    lambda: merkle.CompactRange().append(b"short"),
]


@pytest.mark.parametrize("call", BAD_CALLS)
def test_generators_refuse_bad_arguments(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - every message names its own argument
        call()


def test_node_reader_protocol_accepts_plain_functions() -> None:
    reader: NodeReader = read_node
    assert merkle.root_from_reader(MAX_SIZE, reader) == merkle.root(LEAVES)
