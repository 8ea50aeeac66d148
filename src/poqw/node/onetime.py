"""One-time (XMSS) key bookkeeping: reuse on a block's own branch, the miner key's state, and
how many signatures it has left.

Consensus forbids a block whose signature uses a (key id, one-time index) that an ANCESTOR of the
block already used (:func:`ancestor_use`). The rule is judged on the block's own branch only:
validity must not depend on which side branches a node happens to have seen, or nodes would
disagree. A reuse across two sibling branches is still a leak (two WOTS+ signatures with one key
let a forger sign some other digests with it), so it is logged loudly as evidence against the key
(:func:`sibling_uses`); an honest node never makes one, since its state file only moves forward.
At start the node compares its key's state file with the chain (:func:`check_key_state`) and looks
for its key's past reuse (:func:`check_no_reuse`), and it warns well before the key runs out
(:func:`exhaustion_warning`).
"""

from __future__ import annotations

from poqw.chain import ChainView, Header
from poqw.crypto.hybrid import HybridSigner
from poqw.errors import KeyExhausted, KeyStateBehind, OneTimeKeyReused, StorageError
from poqw.node.storage import ChainStore, OneTimeKeyUse

__all__ = [
    "LOW_KEY_FRACTION",
    "LOW_KEY_MINIMUM",
    "ancestor_use",
    "check_key_state",
    "check_no_reuse",
    "check_signer",
    "exhaustion_warning",
    "is_ancestor",
    "low_key_threshold",
    "refuse_exhausted",
    "sibling_uses",
]

LOW_KEY_FRACTION = 10
"""Warn when fewer than 1/10 of a key's one-time signatures are left ..."""
LOW_KEY_MINIMUM = 100
"""... or fewer than this many, whichever is larger (but never above the capacity)."""


def is_ancestor(store: ChainStore, view: ChainView, parent: Header, block_hash: bytes,
                number: int) -> bool:
    """Whether the block ``block_hash`` at height ``number`` is ``parent`` or one of its
    ancestors. Walks back only while off the canonical chain (a side branch's length), then
    answers from the canonical index."""
    if number > int(parent.number):
        return False
    cursor, cursor_hash = parent, bytes(parent.hash())
    while int(cursor.number) > number and store.canonical_hash(int(cursor.number)) != cursor_hash:
        cursor_hash = bytes(cursor.parent_hash)
        found = view.header(cursor_hash)
        if found is None:
            raise StorageError(f"block 0x{cursor_hash.hex()} of a stored branch is missing")
        cursor = found
    if int(cursor.number) == number:
        return cursor_hash == bytes(block_hash)
    return store.canonical_hash(number) == bytes(block_hash)


def ancestor_use(store: ChainStore, view: ChainView, parent: Header, key_id: bytes,
                 index: int) -> OneTimeKeyUse | None:
    """The ancestor of a child of ``parent`` (``parent`` included) that already used this
    one-time key, or None."""
    for use in store.one_time_key_uses(key_id, index):
        if is_ancestor(store, view, parent, use.block_hash, use.number):
            return use
    return None


def sibling_uses(store: ChainStore, key_id: bytes, index: int,
                 block_hash: bytes) -> list[OneTimeKeyUse]:
    """Other stored blocks (necessarily on other branches) that used this one-time key."""
    return [u for u in store.one_time_key_uses(key_id, index) if u.block_hash != block_hash]


def check_key_state(store: ChainStore, key_id: bytes, next_index: int, state_path: object,
                    key_path: object) -> None:
    """Raise :class:`KeyStateBehind` if a stored block (any branch) used an index of this key
    at or above ``next_index``, the first index its state file calls unused."""
    use = store.highest_one_time_key_use(key_id)
    if use is None or use.index < next_index:
        return
    raise KeyStateBehind(
        f"refusing to mine: the one-time state file {state_path} of key {key_path} says the next "
        f"unused index is {next_index}, but this chain already holds block {use.number} "
        f"0x{use.block_hash.hex()[:16]} signed with index {use.index}. The state file was "
        "restored from a backup (or copied), or the key is in use on another machine; signing "
        "now would reuse one-time keys and leak the key's signing power. Stop every other node "
        "using this key and mine with a new key (poqw keys new, then set key_file); never "
        "restore or copy a key's state file.", use)


def check_no_reuse(store: ChainStore, key_id: bytes, key_path: object) -> None:
    """Raise :class:`OneTimeKeyReused` if stored blocks already used one index of this key twice
    (on sibling branches, or on one branch accepted before this rule was enforced)."""
    uses = store.reused_one_time_keys(key_id)
    if not uses:
        return
    shown = ", ".join(f"index {u.index} in block {u.number} 0x{u.block_hash.hex()[:16]}"
                      for u in uses[:6])
    raise OneTimeKeyReused(
        f"refusing to mine: key {key_path} has already signed blocks with a reused one-time "
        f"index ({shown}{', ...' if len(uses) > 6 else ''}); its post-quantum half has leaked "
        "signing power. Retire this key: mine with a new one (poqw keys new, then set "
        "key_file), and never restore or copy a key's state file.", uses)


def low_key_threshold(capacity: int) -> int:
    """Below how many remaining signatures the node warns."""
    return min(capacity, max(capacity // LOW_KEY_FRACTION, LOW_KEY_MINIMUM))


def exhaustion_warning(remaining: int, capacity: int, key_path: object, *,
                       starting: bool = False) -> str | None:
    """The warning to give with ``remaining`` signatures left: always at start when low, then
    on crossing the threshold, at each power of two and for the last ten."""
    threshold = low_key_threshold(capacity)
    if remaining >= threshold:
        return None
    due = (starting or remaining == threshold - 1 or remaining & (remaining - 1) == 0
           or remaining <= 10)
    if not due:
        return None
    return (f"miner key {key_path} has {remaining} of {capacity} one-time signatures left; "
            "mining stops when none are left: create a new key now (poqw keys new) and set "
            "key_file to it")


def refuse_exhausted(remaining: int | None, capacity: int, key_path: object) -> None:
    """Raise :class:`KeyExhausted` when a stateful key has no signature left."""
    if remaining is not None and remaining <= 0:
        raise KeyExhausted(
            f"refusing to mine: miner key {key_path} has used all {capacity} of its one-time "
            "signatures and cannot sign another block; create a new key (poqw keys new) and "
            "set key_file to it")


def check_signer(signer: HybridSigner, store: ChainStore, key_path: object, *,
                 starting: bool = False) -> None:
    """Refuse to mine with ``signer`` when it has no one-time signature left or its state
    file is behind the chain in ``store``; at start, also when the chain shows it already
    reused an index (stateless keys always pass)."""
    counter = signer.counter
    if counter is None:
        return
    if starting:
        check_no_reuse(store, signer.public_key.key_id(), key_path)
    next_index = counter.next_index()
    refuse_exhausted(counter.capacity - next_index, counter.capacity, key_path)
    check_key_state(store, signer.public_key.key_id(), next_index, counter.path, key_path)
