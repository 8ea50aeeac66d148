"""The node service: wires storage, chain state, EVM, mempool and miner from a :class:`NodeConfig`.

A data directory holds ``chain.sqlite`` (blocks, canonical index, tip, stats), ``state.sqlite``
(EVM state), the log file and, unless configured elsewhere, the miner key ``miner.key`` with its
one-time state. A lock file keeps a second node off the same directory. :class:`Node` is also the
seam the network layer uses: ``import_block_bytes``, ``submit_transaction``, ``tip``,
``headers`` and ``block_bytes`` are all it needs. Secrets from the config are revealed only to
unlock the key; the log gets :meth:`NodeConfig.public_dict`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from poqw.chain import Genesis, Tip, decode_block, load_genesis
from poqw.crypto.hybrid import HybridSigner
from poqw.crypto.keystore import load_key, new_key
from poqw.errors import ConfigError, MiningStopped, PoqwError, StorageError
from poqw.execution import ExecutionEngine, TransactionInfo
from poqw.logconfig import attach, detach, make_handler, register_secret
from poqw.node.admission import AdmissionHead
from poqw.node.blockchain import Blockchain, ImportResult
from poqw.node.config import PASSPHRASE_ENV, NodeConfig
from poqw.node.mempool import Mempool
from poqw.node.miner import Miner, PuzzleSolver, make_solver
from poqw.node.onetime import check_signer, low_key_threshold
from poqw.node.storage import ChainStore

__all__ = ["CHAIN_DB", "STATE_DB", "Node", "resolve_genesis"]

CHAIN_DB = "chain.sqlite"
STATE_DB = "state.sqlite"

log = logging.getLogger("poqw.node")


FRESH_DEVNET = "devnet"


def _stored_genesis(datadir: Path) -> bytes | None:
    """The raw genesis a data directory's chain was started with, if it has one."""
    path = datadir / CHAIN_DB
    if not path.is_file():
        return None
    store = ChainStore.open_read_only(path)
    try:
        return store.get_meta("genesis")
    finally:
        store.close()


def _make_folder(path: Path) -> None:
    """Create the data directory, or say plainly why it cannot be one."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"the data directory {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the data directory {path}: {exc.strerror}") from None


def resolve_genesis(value: str, datadir: Path | None = None,
                    now: float | None = None) -> tuple[Genesis, bytes]:
    """A genesis from a file path or a built-in name, with its raw JSON (kept in the database).

    The built-in ``devnet`` is a local chain: a new data directory stamps it with ``now``, so the
    target-time difficulty starts on schedule instead of months behind the file's timestamp; a
    data directory that already holds a devnet chain keeps its own. Networks of several nodes
    share one genesis file (``poqw devnet`` writes it).
    """
    path = Path(value)
    if path.is_file():
        raw = path.read_bytes()
        return load_genesis(raw), raw
    if value == FRESH_DEVNET and datadir is not None:
        stored = _stored_genesis(datadir)
        if stored is not None:
            return load_genesis(stored), stored
    target = resources.files("poqw") / "data" / "genesis" / f"{value}.json"
    if not target.is_file():
        raise ConfigError(f"genesis {value!r} is neither a file nor a built-in genesis")
    raw = target.read_bytes()
    if value == FRESH_DEVNET and now is not None:
        doc = json.loads(raw)
        doc["timestamp"] = int(now)
        raw = json.dumps(doc, indent=1).encode()
    return load_genesis(raw), raw


class Node:
    """One poqw node over one data directory. Use as a context manager or call :meth:`close`."""

    def __init__(self, config: NodeConfig, *, clock: Callable[[], float] = time.time,
                 solver: PuzzleSolver | None = None) -> None:
        self.config = config
        self.clock = clock
        self.datadir = config.datadir
        _make_folder(self.datadir)
        self._lock_fd = self._take_lock()
        self._log_handler = self._start_logging()
        try:
            self.genesis, raw_genesis = resolve_genesis(config.global_.genesis, self.datadir,
                                                        clock())
            self.store = ChainStore(self.datadir / CHAIN_DB, self.genesis.genesis_id,
                                    genesis_raw=raw_genesis)
            if self.store.get_meta("genesis") is None:
                self.store.put_meta("genesis", raw_genesis)
            self.engine = ExecutionEngine(self.datadir / STATE_DB, self.genesis.chain_id,
                                          dict(self.genesis.alloc))
            self.chain = Blockchain(self.store, self.engine, self.genesis)
            self.mempool = Mempool(self.engine)
            self.admission = AdmissionHead(self.chain, self.now)
            self.chain.listeners.append(self._on_new_head)
        except BaseException:
            for name in ("store", "engine"):
                if hasattr(self, name):
                    getattr(self, name).close()
            self._release()
            raise
        self._solver = solver
        self._signer: HybridSigner | None = None
        self.miner: Miner | None = None
        self.stop_event = threading.Event()
        self.miner_failure: MiningStopped | None = None
        self.mining = "off"
        """What the miner is doing, for status reports: off, mining, stopped or failed: why."""
        self._thread: threading.Thread | None = None
        tip = self.chain.tip()
        log.info("node %s started on %s: genesis %s, height %d, tip 0x%s; config %s",
                 config.global_.node_name, self.datadir, self.genesis.name, tip.number,
                 tip.block_hash.hex(), config.public_dict())

    # --- setup ---------------------------------------------------------------------------------

    def _take_lock(self) -> int:
        fd = os.open(self.datadir / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StorageError(f"another node is using the data directory {self.datadir}") \
                from None
        return fd

    def _start_logging(self) -> logging.Handler:
        g = self.config.global_
        for secret in (g.key_passphrase, self.config.qpu.api_token):
            if secret is not None:
                register_secret(secret.reveal())
        if os.environ.get(PASSPHRASE_ENV):
            register_secret(os.environ[PASSPHRASE_ENV])
        try:
            handler = make_handler(g.log_level, g.log_format,
                                   file=None if self.config.log_to_stderr else
                                   self.config.log_path)
        except ConfigError:
            os.close(self._lock_fd)
            raise
        attach(handler)
        return handler

    def _release(self) -> None:
        detach(self._log_handler)
        os.close(self._lock_fd)

    def signer(self) -> HybridSigner:
        """The miner's key, created on first use (devnet convenience, see ``key_file``)."""
        if self._signer is None:
            self._signer = self._load_signer()
        return self._signer

    @property
    def key_path(self) -> Path:
        g = self.config.global_
        return Path(g.key_file) if g.key_file else self.datadir / "miner.key"

    def check_mining_key(self) -> None:
        """Before mining: refuse (:class:`~poqw.errors.KeyStateBehind`,
        :class:`~poqw.errors.KeyExhausted`) when the key cannot safely sign. The miner repeats
        this before every block and warns when few signatures are left. A key not created yet
        has nothing to check (and creating it can wait for the miner thread)."""
        if self._signer is None and not self.key_path.exists():
            return
        try:
            check_signer(self.signer(), self.store, self.key_path, starting=True)
        except PoqwError as exc:
            log.error("cannot mine: %s", exc)
            raise

    def _warn_key(self, message: str) -> None:
        """A key warning goes to node.log and to the console (stderr)."""
        log.warning("%s", message)
        sys.stderr.write(f"warning: {message}\n")
        sys.stderr.flush()

    def key_status(self) -> dict[str, Any]:
        """The mining key's one-time signatures (for ``network.json``); empty when not mining
        or the key is stateless."""
        signer = self._signer
        if signer is None or signer.counter is None:
            return {}
        remaining = signer.counter.remaining()
        capacity = signer.counter.capacity
        return {"key_remaining": remaining, "key_capacity": capacity,
                "key_low": remaining < low_key_threshold(capacity)}

    def _load_signer(self) -> HybridSigner:
        g = self.config.global_
        key_path = self.key_path
        pass_path = key_path.with_name(key_path.name + ".pass")
        if key_path.is_dir():
            raise ConfigError(f"the miner key file {key_path} is a folder")
        if not key_path.exists() and not key_path.parent.is_dir():
            raise ConfigError(f"cannot create the miner key {key_path}: the folder "
                              f"{key_path.parent} does not exist")
        if g.key_passphrase is not None:
            passphrase = g.key_passphrase.reveal()
        elif os.environ.get(PASSPHRASE_ENV):
            passphrase = os.environ[PASSPHRASE_ENV]
        elif pass_path.is_file():
            passphrase = pass_path.read_text().strip()
            register_secret(passphrase)
        elif not key_path.exists():
            passphrase = secrets.token_hex(16)
            register_secret(passphrase)
            fd = os.open(pass_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(passphrase + "\n")
            log.warning("created %s with a random passphrase kept beside it in %s (fine for a "
                        "devnet; set key_passphrase or %s for real keys)", key_path, pass_path,
                        PASSPHRASE_ENV)
        else:
            raise ConfigError(f"key file {key_path} needs a passphrase: set [global] "
                              f"key_passphrase, {PASSPHRASE_ENV} or --passphrase-file")
        if not key_path.exists():
            public = new_key(key_path, passphrase, g.key_scheme, height=g.key_height)
            log.info("created miner key %s for address 0x%s", key_path, public.address().hex())
        return load_key(key_path, passphrase)

    def _make_solver(self) -> PuzzleSolver:
        if self._solver is None:
            cpu = self.config.cpu
            self._solver = make_solver(self.config.global_.sampler, num_reads=cpu.num_reads,
                                       num_sweeps=cpu.num_sweeps, num_threads=cpu.num_cpus,
                                       k=self.genesis.k)
        return self._solver

    # --- the seam for the network layer -------------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    def tip(self) -> Tip:
        return self.chain.tip()

    def import_block_bytes(self, data: bytes) -> ImportResult:
        """Decode (size-limited) and import a block from a peer."""
        return self.chain.import_block(decode_block(bytes(data), self.chain.limits), self.now())

    def submit_transaction(self, raw: bytes) -> TransactionInfo:
        """Admit a raw EIP-1559 transaction to the mempool (checked against the tip)."""
        head = self.admission.current()
        return self.mempool.add(raw, head.state_root, head.env, self.now())

    def headers(self, start: int, count: int) -> list[bytes]:
        """Encoded canonical headers from height ``start`` (at most ``count``)."""
        out = []
        for block_hash in self.store.canonical_range(start, min(count, 2048)):
            raw = self.store.header_bytes(block_hash)
            if raw is not None:
                out.append(raw)
        return out

    def block_bytes(self, block_hash: bytes) -> bytes | None:
        stored = self.store.get(block_hash)
        return None if stored is None else stored.body

    def canonical_hash(self, number: int) -> bytes | None:
        """The hash at ``number`` on the best chain (``hash_at`` of a block locator)."""
        return self.store.canonical_hash(number)

    def canonical_height_of(self, block_hash: bytes) -> int | None:
        """The height of ``block_hash`` if it is on the best chain, else None."""
        stored = self.store.get(block_hash)
        if stored is None or self.store.canonical_hash(stored.number) != stored.block_hash:
            return None
        return stored.number

    def genesis_hash(self) -> bytes:
        genesis = self.store.canonical_hash(0)
        assert genesis is not None
        return genesis

    def subscribe(self, callback: Callable[[ImportResult], None]) -> None:
        """Call ``callback`` after every head change (e.g. to announce the tip to peers)."""
        self.chain.listeners.append(callback)

    def _on_new_head(self, result: ImportResult) -> None:
        self.admission.head_changed()  # first: no submission may see the old head from here on
        tip = self.chain.header(result.tip.block_hash)
        assert tip is not None
        env = self.chain.block_env(tip, self.now(), bytes(20))
        self.mempool.on_new_head(
            self.chain.state_root(result.tip.block_hash), env, self.now(),
            included=[tx for b in result.connected for tx in b.transactions],
            reverted=[tx for b in result.disconnected for tx in b.transactions])
        if result.reorg_depth:
            log.warning("reorg: %d blocks replaced, new tip %d 0x%s", result.reorg_depth,
                        result.tip.number, result.tip.block_hash.hex()[:16])

    # --- running -------------------------------------------------------------------------------

    def make_miner(self, on_block: Callable[[Any, ImportResult], None] | None = None) -> Miner:
        self.miner = Miner(self.chain, self.mempool, self.signer(), self._make_solver(),
                           clock=self.clock, on_block=on_block, key_label=str(self.key_path),
                           on_key_warning=self._warn_key,
                           kind=getattr(self._solver, "miner_kind", self.config.global_.sampler))
        self.miner.check_key()
        return self.miner

    def run(self, max_blocks: int | None = None,
            on_block: Callable[[Any, ImportResult], None] | None = None) -> int:
        """Mine (when ``auto_mine``) until :meth:`stop` or ``max_blocks``; return blocks mined.
        Without mining it just waits for :meth:`stop` (the network layer does the work)."""
        if not self.config.global_.auto_mine:
            self.stop_event.wait()
            return 0
        miner = self.make_miner(on_block)
        mined = miner.run(self.stop_event, max_blocks)
        log.info("miner stopped after %d blocks (%d salts tried, %.2f s solving)", mined,
                 miner.stats.salts_tried, miner.stats.seconds_solving)
        return mined

    def start(self, max_blocks: int | None = None,
              on_block: Callable[[Any, ImportResult], None] | None = None) -> threading.Thread:
        """:meth:`run` in a supervised background thread (see :meth:`start_miner`)."""
        return self.start_miner(lambda: self.run(max_blocks, on_block))

    def start_miner(self, body: Callable[[], object],
                    on_exit: Callable[[], None] | None = None) -> threading.Thread:
        """Run ``body`` (a mining loop) in a background thread that this node supervises.

        Whatever ``body`` raises is logged once (with its traceback in the log file only when it
        is not a poqw error), kept as :attr:`miner_failure` and stops the node (``stop_event``);
        ``on_exit`` runs when the thread ends either way, so the owner of the thread can wake up.
        :meth:`raise_miner_failure` then turns the failure into one clear error.
        """
        if self._thread is not None and self._thread.is_alive():
            raise ConfigError("the node is already running")

        def supervised() -> None:
            self.mining = "mining"
            try:
                body()
                self.mining = "stopped"
            except BaseException as exc:  # the owner reports every failure, bugs included
                self.miner_failure = self._record_miner_failure(exc)
                self.mining = f"failed: {self.miner_failure}"
                self.stop_event.set()
            finally:
                if on_exit is not None:
                    on_exit()

        self._thread = threading.Thread(target=supervised,
                                        name=f"poqw-miner-{self.config.global_.node_name}",
                                        daemon=True)
        self._thread.start()
        return self._thread

    def _record_miner_failure(self, exc: BaseException) -> MiningStopped:
        if isinstance(exc, PoqwError):
            reason = f"mining stopped: {exc}"
            log.error("%s", reason)
        else:
            reason = (f"mining stopped by an unexpected {type(exc).__name__}: {exc} (the "
                      f"traceback is in {self.config.log_place})")
            log.error("%s", reason, exc_info=exc)
        return MiningStopped(reason, exc)

    def raise_miner_failure(self) -> None:
        """Raise :class:`~poqw.errors.MiningStopped` if the miner thread failed."""
        if self.miner_failure is not None:
            raise self.miner_failure

    def prepare_mining(self) -> None:
        """Build the solver now, so an unknown sampler is reported before the node starts
        serving. (The key is loaded by the miner thread: building a one-time key's tree takes
        seconds, and the node already serves peers meanwhile; a key that cannot be loaded stops
        the node through :meth:`start_miner`'s supervision.)"""
        try:
            self._make_solver()
        except PoqwError as exc:
            log.error("cannot mine: %s", exc)
            raise

    def stop(self) -> None:
        """Ask the miner to stop (it finishes or drops the current attempt) and wait for it."""
        self.stop_event.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def close(self) -> None:
        self.stop()
        log.info("node %s stopped", self.config.global_.node_name)
        self.store.close()
        self.engine.close()
        self._release()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
