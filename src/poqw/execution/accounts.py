"""Account reads straight from the account trie, remembered per state root.

A state root names one immutable state, so ``(state root, address) -> account`` never changes
and can be cached without invalidation: a new head or a reorg simply asks under another root.
:class:`AccountReader` answers nonce, balance and code without building a py-evm state object
(which, for Prague, also installs the system contracts and costs a trie walk of its own); the
engine uses it for state queries and mempool admission, and py-evm for anything that executes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.db.account import AccountDB
from eth.rlp.accounts import Account
from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS
from eth.vm.forks.prague.constants import HISTORY_STORAGE_ADDRESS
from eth_utils.crypto import keccak
from lru import LRU
from trie.hexary import HexaryTrie

from poqw.execution.fork import PoqwState

__all__ = ["SYSTEM_CONTRACT_ADDRESSES", "AccountReader", "AccountView", "EncodedAccountCaches"]

SYSTEM_CONTRACT_ADDRESSES = frozenset({bytes(BEACON_ROOTS_ADDRESS),
                                       bytes(HISTORY_STORAGE_ADDRESS)})
"""Accounts whose code py-evm installs when it opens a state (their code is read through it)."""

_BLANK_ACCOUNT = Account()


class AccountReader:
    """Decoded accounts by ``(state_root, address)``, an LRU of ``max_entries`` (thread-safe)."""

    def __init__(self, db: Any, max_entries: int = 16384) -> None:
        self._db = db
        self._accounts: OrderedDict[tuple[bytes, bytes], Account] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def account(self, state_root: bytes, address: bytes) -> Account:
        """The account at ``address`` in the state ``state_root`` (blank if absent)."""
        key = (state_root, address)
        with self._lock:
            cached = self._accounts.get(key)
            if cached is not None:
                self._accounts.move_to_end(key)
                return cached
        if state_root == BLANK_ROOT_HASH:
            account = _BLANK_ACCOUNT
        else:
            encoded = HexaryTrie(self._db, state_root)[keccak(address)]
            account = rlp.decode(encoded, sedes=Account) if encoded else _BLANK_ACCOUNT
        with self._lock:
            self._accounts[key] = account
            while len(self._accounts) > self._max_entries:
                self._accounts.popitem(last=False)
        return account

    def code(self, state_root: bytes, address: bytes) -> bytes:
        code_hash = self.account(state_root, address).code_hash
        return b"" if code_hash == EMPTY_SHA3 else bytes(self._db[code_hash])

    def view(self, state_root: bytes) -> AccountView:
        return AccountView(self, state_root)


class AccountView:
    """The read side of a py-evm state (``get_nonce``, ``get_balance``, ``get_code``) for one
    root, enough for :func:`~poqw.execution.transactions.check_against_state`. A system contract
    address has no code here (py-evm would install it): callers never ask for one."""

    def __init__(self, reader: AccountReader, state_root: bytes) -> None:
        self._reader = reader
        self.state_root = state_root

    def get_nonce(self, address: bytes) -> int:
        return int(self._reader.account(self.state_root, address).nonce)

    def get_balance(self, address: bytes) -> int:
        return int(self._reader.account(self.state_root, address).balance)

    def get_code(self, address: bytes) -> bytes:
        return self._reader.code(self.state_root, address)


class EncodedAccountCaches:
    """Per state root, the encoded accounts py-evm has read (``address -> rlp``), shared by
    every read-only state opened on that root, so an ``eth_call`` does not walk the account
    trie again for the accounts the previous call read. py-evm keeps this layer (its
    ``AccountDB._trie_cache``) per state object and throws it away whenever the root moves
    (``make_state_root``, a revert to another root): it never writes into it, so sharing it
    between states of the same root, committed and immutable, is safe."""

    def __init__(self, roots_kept: int = 8, accounts_per_root: int = 4096) -> None:
        self._by_root: OrderedDict[bytes, Any] = OrderedDict()
        self._roots_kept = roots_kept
        self._accounts_per_root = accounts_per_root
        self._lock = threading.Lock()
        caches = self

        class SharedCacheAccountDB(AccountDB):  # type: ignore[misc]
            def __init__(self, db: Any, state_root: Any = BLANK_ROOT_HASH) -> None:
                super().__init__(db, state_root)
                self._trie_cache._cached_values = caches.for_root(bytes(state_root))

        class ReadOnlyPoqwState(PoqwState):  # type: ignore[misc]
            account_db_class = SharedCacheAccountDB

        self.state_class: Any = ReadOnlyPoqwState
        """A ``PoqwState`` (Prague plus the strike precompile) for read-only execution (never
        persisted) sharing these caches."""

    def for_root(self, state_root: bytes) -> Any:
        with self._lock:
            cache = self._by_root.get(state_root)
            if cache is None:
                cache = LRU(self._accounts_per_root)
                self._by_root[state_root] = cache
                while len(self._by_root) > self._roots_kept:
                    self._by_root.popitem(last=False)
            else:
                self._by_root.move_to_end(state_root)
            return cache
