"""The GPU annealer: its counter-based RNG, colouring and NumPy reference, the CUDA kernel run
under numba's CUDA simulator (same spins, bit for bit, and a block it mines validates), the
batched miner, and ``poqw node gpu``'s fallback where there is no GPU.

The simulator runs in a subprocess (tests/gpu_sim_driver.py): ``NUMBA_ENABLE_CUDASIM`` must be
set before numba.cuda is imported and then holds for the whole process. Tests marked ``gpu`` run
the real kernel and skip, with the reason, on machines without a CUDA GPU (CI has none).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from poqw.chain import decode_block, verify_proof
from poqw.chain.genesis import load_genesis
from poqw.chain.instance import derive_instance, derive_seed, instance_energies
from poqw.chain.topology import build_topology
from poqw.cli.main import app
from poqw.errors import BackendUnavailable
from poqw.node import Miner, load_config
from poqw.node.hardware import GpuPuzzleSolver, gpu_solver
from poqw.node.testing import (
    funded_genesis,
    genesis_document,
    make_chain,
    mldsa_signer,
    salt_stream,
)
from poqw.problems.model import IsingModel
from poqw.samplers.colored_anneal import (
    color_classes,
    counter_draws,
    plan_for_graph,
    read_keys,
)
from poqw.samplers.gpu_annealing import GpuAnnealingSampler, anneal_batch, gpu_status

GENESIS = funded_genesis({})
T0 = GENESIS.timestamp + 10**6
HERE = Path(__file__).parent
NO_GPU = not gpu_status().available


def splitmix64(state: int) -> tuple[int, int]:
    """SplitMix64 as published (Steele, Lea, Flood 2014), in Python integers: (state, output)."""
    mask = (1 << 64) - 1
    state = (state + 0x9E3779B97F4A7C15) & mask
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return state, z ^ (z >> 31)


def test_counter_draws_are_the_splitmix64_stream() -> None:
    assert int(counter_draws(0, 0)) == 0xE220A8397B1DCDAF  # the well-known first output
    state, expected = 12345, []
    for _ in range(5):
        state, out = splitmix64(state)
        expected.append(out)
    assert [int(x) for x in counter_draws(12345, np.arange(5))] == expected
    keys = read_keys([7, 8], 3)
    assert keys.shape == (6,) and len(set(keys.tolist())) == 6


@pytest.mark.parametrize("family,size", [("regular3", 24), ("zephyr", 2), ("pegasus", 2)])
def test_colour_classes_hold_no_edge(family: str, size: int) -> None:
    topology = build_topology(family, size)
    classes = color_classes(topology.num_nodes, topology.edges)
    color = {v: c for c, members in enumerate(classes) for v in members}
    assert sorted(color) == list(range(topology.num_nodes))
    assert all(color[int(a)] != color[int(b)] for a, b in topology.edges)
    plan = plan_for_graph(topology.num_nodes, topology.edges)
    assert sorted(plan.order.tolist()) == list(range(topology.num_nodes))
    assert plan.row_ptr[-1] == 2 * topology.num_edges


def test_reference_finds_the_ground_state_of_a_small_model() -> None:
    rng = np.random.default_rng(3)
    n = 12
    edges = np.array([(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.4])
    model = IsingModel.from_arrays(rng.integers(-1, 2, n).astype(float), edges,
                                   rng.choice([-1.0, 1.0], len(edges)))
    grid = ((np.arange(1 << n)[:, None] >> np.arange(n)) & 1) * 2 - 1
    best = model.energies(grid).min()
    sampleset = GpuAnnealingSampler(backend="numpy").sample(model, num_reads=32, seed=5,
                                                              num_sweeps=200)
    assert sampleset.first.energy == best
    again = GpuAnnealingSampler(backend="numpy").sample(model, num_reads=32, seed=5,
                                                          num_sweeps=200)
    assert np.array_equal(sampleset.record.sample, again.record.sample)


def test_reference_anneals_puzzles_like_the_cpu_miner() -> None:
    """Same schedule length as the CPU miner (64 reads, 16 sweeps): as good on devnet puzzles."""
    instances = [derive_instance(GENESIS.topology, bytes([i]) * 32) for i in range(40)]
    solver = GpuPuzzleSolver(backend="numpy")
    best = [instance_energies(inst, spins).min()
            for inst, spins in zip(instances, solver.solve_many(instances, list(range(40))),
                                   strict=True)]
    assert np.mean(best) <= -32  # dwave-samplers gets -34.0 on average here; random spins ~0


@pytest.mark.slow
def test_kernel_under_the_cuda_simulator_matches_the_reference(tmp_path: Path) -> None:
    out = tmp_path / "sim.npz"
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    done = subprocess.run([sys.executable, str(HERE / "gpu_sim_driver.py"), str(out),
                           str(tmp_path / "chain")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = np.load(out)
    # the same puzzles and seeds through the NumPy reference: identical spins
    assert "NUMBA_ENABLE_CUDASIM" not in os.environ  # the simulator stayed in the subprocess
    assert str(result["fallback"]) == "" and "CUDA GPU 0:" in str(result["runs_on"])
    seeds = [int(s) for s in result["seeds"]]
    topology = GENESIS.topology
    plan = plan_for_graph(topology.num_nodes, topology.edges)
    instances = [derive_instance(topology, bytes([i]) * 32) for i in range(len(seeds))]
    expected = anneal_batch("numpy", plan, np.stack([i.h for i in instances]),
                            np.stack([i.J for i in instances]), seeds, int(result["reads"]),
                            int(result["sweeps"]))
    assert expected.shape == (len(seeds) * int(result["reads"]), topology.num_nodes)
    assert np.array_equal(result["spins"], expected)
    # the block the simulated GPU mined carries a valid proof for its miner's puzzle
    block = decode_block(result["block"].tobytes(), make_chain(tmp_path / "v", GENESIS)[0].limits)
    instance = derive_instance(topology, derive_seed(block.header.parent_hash,
                                                     block.header.miner, block.header.salt))
    verify_proof(instance, block.proof, GENESIS.k, GENESIS.d_min,
                 int(block.header.energy_bound), int(block.header.ticket_target))
    chain, _ = make_chain(tmp_path / "import", GENESIS)
    assert chain.import_block(block, T0).status == "new-tip"


def test_batched_solver_mines_valid_blocks(tmp_path: Path) -> None:
    chain, pool = make_chain(tmp_path, GENESIS)
    solver = GpuPuzzleSolver(backend="numpy", num_reads=16, num_sweeps=8, batch_size=3)
    miner = Miner(chain, pool, mldsa_signer("gpu"), solver, clock=lambda: T0,
                  salt_source=salt_stream("gpu-batch"))
    for _ in range(2):
        block = miner.mine_block()
        assert block is not None and chain.tip().block_hash == block.hash()
    assert miner.stats.salts_tried % 3 == 0  # whole batches


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU: the fallback does not apply")
def test_without_a_gpu_the_node_falls_back_or_fails_when_required(tmp_path: Path) -> None:
    cfg = load_config(None, {"global.datadir": str(tmp_path)})
    choice = gpu_solver(cfg, GENESIS.k)
    assert choice.fallback.startswith("no usable GPU") and "CPU annealer" in choice.fallback
    with pytest.raises(BackendUnavailable, match="--require-gpu"):
        gpu_solver(cfg, GENESIS.k, require=True)
    with pytest.raises(BackendUnavailable, match="needs a CUDA GPU"):
        GpuAnnealingSampler(backend="cuda")
    genesis_file = tmp_path / "genesis.json"
    import json

    genesis_file.write_text(json.dumps(genesis_document()))
    result = CliRunner().invoke(app, ["node", "gpu", "--datadir", str(tmp_path / "n"),
                                      "--genesis", str(genesis_file), "--auto-mine",
                                      "--blocks", "1", "--port", "0", "--require-gpu"])
    assert result.exit_code != 0
    assert "no usable GPU" in result.output and "--require-gpu" in result.output
    assert not (tmp_path / "n" / "chain.sqlite").exists()


@pytest.mark.gpu
@pytest.mark.skipif(NO_GPU, reason=f"needs a CUDA GPU: {gpu_status().reason}")
def test_real_gpu_kernel_matches_the_reference() -> None:
    topology = load_genesis((HERE.parent / "src/poqw/data/genesis/zephyr-testnet.json"
                             ).read_bytes()).topology
    plan = plan_for_graph(topology.num_nodes, topology.edges)
    instances = [derive_instance(topology, bytes([i]) * 32) for i in range(8)]
    h, J = np.stack([i.h for i in instances]), np.stack([i.J for i in instances])
    seeds = list(range(8))
    assert np.array_equal(anneal_batch("cuda", plan, h, J, seeds, 32, 16),
                          anneal_batch("numpy", plan, h, J, seeds, 32, 16))


def test_reference_sampler_passes_the_conformance_suite() -> None:
    from poqw.samplers.testing import assert_sampler_conforms

    assert_sampler_conforms(GpuAnnealingSampler(backend="numpy"), parameters={"num_sweeps": 100})


@pytest.mark.parametrize("bound,ticket_target",
                         [(-30, 2**256 - 1), (-33, 2**255), (-36, 2**256 - 1)])
def test_miner_prefilter_finds_the_same_proofs(bound: int, ticket_target: int) -> None:
    """The miner hands winning_proof only the reads under the bound (batches of GPU reads would
    otherwise spend most of their time canonicalizing reads that cannot be in a proof)."""
    from poqw.chain.difficulty import Difficulty
    from poqw.chain.mining import winning_proof
    from poqw.node.miner import _winning_proof

    instances = [derive_instance(GENESIS.topology, bytes([7, i]) * 16) for i in range(60)]
    answers = GpuPuzzleSolver(backend="numpy").solve_many(instances, list(range(60)))
    difficulty = Difficulty(energy_bound=bound, ticket_target=ticket_target)
    full = [winning_proof(GENESIS, i, s, difficulty) for i, s in zip(instances, answers,
                                                                     strict=True)]
    assert [_winning_proof(GENESIS, i, s, difficulty)
            for i, s in zip(instances, answers, strict=True)] == full
    assert any(p is not None for p in full) or bound == -36


def test_gpu_and_qpu_config_keys(tmp_path: Path) -> None:
    from poqw.errors import ConfigError

    path = tmp_path / "node.toml"
    path.write_text('[gpu]\ndevices = [0, 1]\nnum_reads = 32\nnum_sweeps = 20\nbatch_size = 512\n'
                    '[qpu]\nsolver = "mock"\ntoken_file = ".env"\nnum_reads = 200\n')
    cfg = load_config(path)
    assert (cfg.gpu.devices, cfg.gpu.num_reads, cfg.gpu.num_sweeps, cfg.gpu.batch_size) == (
        (0, 1), 32, 20, 512)
    assert (cfg.qpu.solver, cfg.qpu.token_file, cfg.qpu.num_reads) == ("mock", ".env", 200)
    for bad, what in (("[gpu]\ndevices = [-1]\n", "device indices"),
                      ("[gpu]\nbatch_size = 0\n", "at least 1"),
                      ("[qpu]\nnum_reads = 0\n", "at least 1")):
        path.write_text(bad)
        with pytest.raises(ConfigError, match=what):
            load_config(path)
