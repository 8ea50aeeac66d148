"""``poqw netsim``: a discrete-event simulation of the peer network at scales we cannot run.

N simulated nodes, each holding real sans-I/O ``PeerConnection`` objects for its links, mine
(Poisson, difficulty from the genesis target-time policy), announce blocks by GOSSIP and fetch
them with BLOCK_REQUEST/BLOCK_SUBMIT over links with a latency model and a bandwidth, on a
simulated clock driven by one seeded generator. ``summarize`` and ``write_plot`` report block
propagation, stale rate, block interval, difficulty and traffic.
"""

from poqw.netsim.chain import SimChain, decode_sim_block, encode_sim_block, simulation_genesis
from poqw.netsim.engine import SimConfig, SimRecord, Simulation, run_simulation
from poqw.netsim.latency import GEO_REGIONS, GEO_RTT_MS, LatencyModel, parse_latency
from poqw.netsim.report import propagation_times, receive_latencies, summarize, write_plot

__all__ = [
    "GEO_REGIONS",
    "GEO_RTT_MS",
    "LatencyModel",
    "SimChain",
    "SimConfig",
    "SimRecord",
    "Simulation",
    "decode_sim_block",
    "encode_sim_block",
    "parse_latency",
    "propagation_times",
    "receive_latencies",
    "run_simulation",
    "simulation_genesis",
    "summarize",
    "write_plot",
]
