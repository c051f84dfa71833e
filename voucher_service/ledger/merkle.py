"""RFC 9162 Merkle tree hashes and proofs, from leaf lists or from stored perfect subtrees."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class NodeReader(Protocol):
    """Returns the stored hash of the perfect subtree (level, index); level 0 is a leaf hash."""

    def __call__(self, level: int, index: int) -> bytes: ...


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


# --- Reference construction over a list of leaf hashes (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1).


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    _require_hashes(leaf_hashes)
    return _mth(leaf_hashes, 0, len(leaf_hashes)) if leaf_hashes else EMPTY_ROOT


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"leaf index {index} is outside a tree of {len(leaf_hashes)} leaves")
    _require_hashes(leaf_hashes)
    return _path(index, leaf_hashes, 0, len(leaf_hashes))


def consistency_proof(size1: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Proof that the first size1 leaves are a prefix; size1 = 0 is refused as meaningless."""
    if not 0 < size1 <= len(leaf_hashes):
        raise ValueError(f"no consistency proof from size {size1} to {len(leaf_hashes)}")
    _require_hashes(leaf_hashes)
    return _subproof(size1, leaf_hashes, 0, len(leaf_hashes), complete=True)


def _split(n: int) -> int:
    """The largest power of two below n (n >= 2): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return hashes[lo]
    k = lo + _split(hi - lo)
    return node_hash(_mth(hashes, lo, k), _mth(hashes, k, hi))


def _path(m: int, hashes: Sequence[bytes], lo: int, hi: int) -> list[bytes]:
    if hi - lo == 1:
        return []
    k = lo + _split(hi - lo)
    if m < k:
        return [*_path(m, hashes, lo, k), _mth(hashes, k, hi)]
    return [*_path(m, hashes, k, hi), _mth(hashes, lo, k)]


def _subproof(m: int, hashes: Sequence[bytes], lo: int, hi: int, complete: bool) -> list[bytes]:
    if m == hi:
        return [] if complete else [_mth(hashes, lo, hi)]
    k = lo + _split(hi - lo)
    if m <= k:
        return [*_subproof(m, hashes, lo, k, complete), _mth(hashes, k, hi)]
    return [*_subproof(m, hashes, k, hi, False), _mth(hashes, lo, k)]


# --- Verification (RFC 9162 §2.1.3.2, §2.1.4.2). Callers hand us untrusted input: never raise.


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    if not (_is_size(index) and _is_size(size) and index < size):
        return False
    if not (_is_hash(leaf_hash) and _is_hash(root) and _are_hashes(proof)):
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_to_right_child(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    if not (_is_size(size1) and _is_size(size2) and _are_hashes(proof)):
        return False
    # Nothing can be proven from the empty tree, so the vectors refuse size1 = 0 even when
    # size2 = 0 (as transparency-dev's verifier does since subtree proofs were added).
    if size1 == 0 or size1 > size2:
        return False
    if size1 == size2:
        return not proof and isinstance(root1, bytes | bytearray) and root1 == root2
    if not (proof and _is_hash(root1) and _is_hash(root2)):
        return False
    return _verify_consistency_path(size1, size2, root1, root2, proof)


def _verify_consistency_path(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_to_right_child(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == root1 and sr == root2


def _shift_to_right_child(fn: int, sn: int) -> tuple[int, int]:
    """Skips the levels where the right border has no sibling (RFC 9162's inner while loop)."""
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _are_hashes(values: object) -> bool:
    return isinstance(values, Sequence) and all(_is_hash(v) for v in values)


def _require_hashes(values: Sequence[bytes]) -> None:
    if not _are_hashes(values):
        raise ValueError(f"every hash must be {HASH_SIZE} bytes")


# --- The same tree from stored perfect subtrees: O(log n) node reads per root or proof.


class CompactRange:
    """The right frontier of a tree of `size` leaves: its perfect subtrees, largest first."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if not _is_size(size):
            raise ValueError(f"invalid tree size {size!r}")
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} frontier hashes")
        _require_hashes(hashes)
        self.size = size
        self._hashes = [bytes(h) for h in hashes]

    @classmethod
    def from_reader(cls, size: int, read: NodeReader) -> CompactRange:
        if not _is_size(size):
            raise ValueError(f"invalid tree size {size!r}")
        return cls(size, _read_range(0, size, read))

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Adds a leaf; returns every perfect subtree it completes as (level, index, hash)."""
        _require_hashes([leaf_hash])
        index, level, current = self.size, 0, bytes(leaf_hash)
        completed = [(0, index, current)]
        # Each trailing 1 bit of the old size is a frontier subtree the new one now merges with.
        while (index >> level) & 1:
            current = node_hash(self._hashes.pop(), current)
            level += 1
            completed.append((level, index >> level, current))
        self._hashes.append(current)
        self.size += 1
        return completed

    def root(self) -> bytes:
        return _fold(self._hashes) if self._hashes else EMPTY_ROOT


def root_from_reader(size: int, read: NodeReader) -> bytes:
    return CompactRange.from_reader(size, read).root()


def inclusion_proof_from_reader(index: int, size: int, read: NodeReader) -> list[bytes]:
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    return _path_from_reader(0, index, size, read)


def consistency_proof_from_reader(size1: int, size2: int, read: NodeReader) -> list[bytes]:
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to {size2}")
    if size1 == size2:
        return []
    # The old tree's last perfect subtree, proven into the new tree; when it is the whole
    # old tree (size1 a power of two) the verifier already holds it as root1.
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    proof = _path_from_reader(level, index, size2, read)
    return proof if index == 0 else [_read(read, level, index), *proof]


def _path_from_reader(level: int, index: int, size: int, read: NodeReader) -> list[bytes]:
    """The inclusion path of the perfect subtree (level, index) in the tree of `size` leaves."""
    # Below the fork every sibling is a complete subtree; above it, the path runs along the
    # right border: one partial subtree to its right, then the frontier to its left.
    inner = (index ^ (size >> level)).bit_length() - 1
    proof = [_read(read, level + i, (index >> i) ^ 1) for i in range(inner)]
    fork_begin = (index >> inner) << (level + inner)
    fork_end = fork_begin + (1 << (level + inner))
    if fork_end < size:
        proof.append(_fold(_read_range(fork_end, size, read)))
    proof.extend(reversed(_read_range(0, fork_begin, read)))
    return proof


def _range_nodes(begin: int, end: int) -> list[tuple[int, int]]:
    """The perfect subtrees that exactly cover leaves [begin, end), left to right."""
    nodes = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def _read_range(begin: int, end: int, read: NodeReader) -> list[bytes]:
    return [_read(read, level, index) for level, index in _range_nodes(begin, end)]


def _read(read: NodeReader, level: int, index: int) -> bytes:
    value = read(level, index)
    if not _is_hash(value):
        raise ValueError(f"stored node ({level}, {index}) is not a {HASH_SIZE}-byte hash")
    return bytes(value)


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Hashes a run of subtrees, largest first, into one: the right border of RFC 9162 trees."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result
