"""``poqw node``: run a node. ``poqw node cpu`` mines on this machine's CPU.

The command only translates flags into a :class:`~poqw.node.NodeConfig` and drives
:class:`~poqw.node.Node` (the miner, in its own thread) and
:class:`~poqw.node.network.NetworkService` (QUIC peers, on the asyncio loop of the main thread);
SIGINT and SIGTERM stop both cleanly between puzzle attempts, and a second one exits at once
(:mod:`poqw.cli.stopsignals`). The Ethereum JSON-RPC (:mod:`poqw.api`,
``--rpc-host``/``--rpc-port``/``--no-rpc``) runs on the same loop; its URL goes to
``network.json`` as ``rpc``. The node supervises the miner
thread: if it fails (unknown sampler, wrong passphrase, corrupt or used-up key...) the node stops,
the reason goes to the log and the console gets one ``error:`` line and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from poqw import loops
from poqw.cli import node_options as flags
from poqw.cli.common import console, err_console
from poqw.cli.stopsignals import StopSignals
from poqw.errors import ConfigError

if TYPE_CHECKING:
    from poqw.node import Node, NodeConfig

__all__ = ["app", "cpu", "run_node"]

log = logging.getLogger("poqw.node")

app = typer.Typer(help="Run a poqw node.", no_args_is_help=True)


@flags.node_command(app, "cpu")
def cpu(
    node: flags.NodeFlags,
    sampler: Annotated[str | None, typer.Option(
        help="simulated-annealing (default), qaoa (match-strike) or any sampler name.")] = None,
    market_address: Annotated[str | None, typer.Option(
        help="The problem market's address, shown by the explorer's Market page.")] = None,
) -> None:
    """Run a node that mines with the CPU and joins its peers (no --peer: alone, listening)."""
    node.run(node.config({"global.sampler": sampler, "global.market_address": market_address}))


def run_node(cfg: NodeConfig, peer: list[str] | None, blocks: int | None,
             stop_mining_at: int | None, discover: bool, keep_serving: bool,
             solver: Any = None, note: str = "") -> None:
    """What every ``poqw node`` command does once its config is built (``solver``: the
    miner's puzzle solver when not the ``[global] sampler``; ``note``: what it mines with, for
    the node's log)."""
    from poqw.node import Node

    if blocks is not None and blocks < 1:
        raise typer.BadParameter("--blocks must be at least 1")
    if blocks is not None and not cfg.global_.auto_mine:
        raise ConfigError("--blocks counts blocks this node mines: it needs --auto-mine")
    peers = tuple(cfg.global_.peer) + tuple(peer or ())
    event_loop = loops.choose_loop()  # a bad POQW_EVENT_LOOP fails before the node opens
    # a signal from here on stops the node cleanly (the first) or at once (the second)
    with StopSignals() as signals, Node(cfg, solver=solver) as node:
        if note:
            log.info("miner: %s", note)
        if cfg.global_.auto_mine and not keep_serving:
            node.prepare_mining()  # an unknown sampler fails here, before serving peers
            node.check_mining_key()  # so does a key that cannot sign
        mined = loops.run(_serve(node, cfg, peers, blocks, stop_mining_at, discover,
                                 keep_serving, signals), event_loop)
        if not keep_serving:
            node.raise_miner_failure()
        console.print(f"stopped: mined {mined} blocks, height {node.tip().number}",
                      highlight=False)


def _on_block(block: Any, result: Any) -> None:
    # printed after the block is committed: a line here is a block on disk
    sys.stdout.write(f"block {int(block.header.number)} 0x{block.hash().hex()} "
                     f"{result.status} work {result.tip.total_work}\n")
    sys.stdout.flush()


def _mine(node: Node, blocks: int | None, stop_at: int | None,
          disputed: Callable[[], bool] | None = None) -> int:
    """The miner thread: mine until stopped, ``blocks`` mined or the tip reaches ``stop_at``.

    Past ``stop_at`` it idles, and mines again while ``disputed()`` says a peer holds another
    head of equal work: fork choice keeps the first-seen head, so only a next block settles
    such a tie, and a network that stopped mining at once would stay split."""
    miner = node.make_miner(_on_block)
    mined = 0
    while not node.stop_event.is_set() and (blocks is None or mined < blocks):
        if stop_at is not None and node.tip().number >= stop_at:
            if disputed is None:
                break
            if not disputed():
                node.stop_event.wait(0.5)
                continue
        if miner.mine_block(node.stop_event) is not None:
            mined += 1
    return mined


async def _start_rpc(node: Node, cfg: NodeConfig, service: Any, stop: asyncio.Event) -> Any:
    """The JSON-RPC server (None with --no-rpc); its failure stops the node, and its URL goes
    into network.json as ``rpc``."""
    from poqw.api.server import start_node_rpc

    def failed(exc: BaseException) -> None:
        err_console.print(f"[bold red]error:[/] the JSON-RPC server failed: {escape(str(exc))}",
                          highlight=False, soft_wrap=True)
        stop.set()

    rpc = await start_node_rpc(node, cfg, service, failed)
    if rpc is not None:
        service.status_extra["rpc"] = rpc.url
    return rpc


async def _serve(node: Node, cfg: NodeConfig, peers: tuple[str, ...], blocks: int | None,
                 stop_at: int | None, discover: bool, keep_serving: bool = False,
                 signals: StopSignals | None = None) -> int:
    """Run the network on this loop and the miner in a thread until a signal (or ``blocks``)."""
    from poqw.node.network import NetworkService
    from poqw.p2p.config import PeerConfig
    from poqw.p2p.dialpolicy import policy_for_listen_host

    loop = asyncio.get_running_loop()
    g = cfg.global_
    service = NetworkService(node, host=g.host, port=g.port, peers=peers,
                             tls_cert_file=g.tls_cert_file, tls_key_file=g.tls_key_file,
                             discover=discover, max_pins=cfg.p2p.max_pins,
                             peer_config=PeerConfig(address_identities=(
                                 1.0 / 60.0, float(cfg.p2p.new_keys_per_address))),
                             dial_policy=policy_for_listen_host(
                                 cfg.p2p.dial_policy, g.host, max(1, cfg.p2p.dial_min_port)))
    stop = asyncio.Event()

    def stop_soon() -> None:  # runs in the signal handler: only hand the request on
        loop.call_soon_threadsafe(stop.set)

    if signals is not None:  # before network.json says we run
        signals.on_stop(stop_soon)
    rpc = await _start_rpc(node, cfg, service, stop)
    try:
        port = await service.start()
    except BaseException:
        if rpc is not None:
            await rpc.stop()
        raise
    tip = node.tip()
    console.print(f"node {g.node_name}: {node.genesis.name}, height {tip.number}, port {port}, "
                  f"datadir {cfg.datadir}, peers {', '.join(peers) or 'none'}", highlight=False)
    if rpc is not None:
        console.print(f"rpc {rpc.url}", highlight=False)
    sys.stdout.flush()
    result: list[int] = []

    def mine() -> None:
        result.append(_mine(node, blocks, stop_at, service.tip_disputed))

    def say_mining_stopped() -> None:
        err_console.print(f"[bold yellow]warning:[/] {escape(str(node.miner_failure))}; still "
                          f"serving peers (--keep-serving)", highlight=False, soft_wrap=True)
        service.mark_changed()

    def miner_ended() -> None:
        # --blocks reached, or the miner failed (node.miner_failure): stop serving too, unless
        # mining is optional here
        if node.miner_failure is not None and keep_serving:
            loop.call_soon_threadsafe(say_mining_stopped)
        elif blocks is not None or node.miner_failure is not None:
            loop.call_soon_threadsafe(stop.set)

    thread = node.start_miner(mine, on_exit=miner_ended) if g.auto_mine else None
    service.mark_changed()  # network.json: the miner's state
    try:
        await stop.wait()
        if signals is not None and signals.received is not None:
            log.info("%s: stopping (mining stops after the current attempt; the same signal "
                     "again exits at once)", signals.name)
    finally:
        node.stop_event.set()
        if thread is not None:
            await loop.run_in_executor(None, thread.join)
        if rpc is not None:
            await rpc.stop()
        await service.close()
        if signals is not None:
            signals.forget(stop_soon)
    return result[0] if result else 0


from poqw.cli import node_hardware as _node_hardware  # noqa: E402  (registers gpu and qpu)

del _node_hardware
