"""The one problem form (``IsingModel``), conversions, generators, file formats, exact oracle."""

from poqw.problems.convert import (
    cut_values,
    ising_to_maxcut,
    ising_to_qubo,
    maxcut_to_ising,
    qubo_to_ising,
)
from poqw.problems.exact import (
    ExactResult,
    energy_diagonal,
    index_to_spins,
    solve_exact,
    spins_to_index,
)
from poqw.problems.generators import (
    dwave_topology,
    erdos_renyi_graph,
    pm_j_spin_glass,
    random_maxcut,
    random_regular_graph,
    sherrington_kirkpatrick,
    weighted_graph,
)
from poqw.problems.io import (
    ising_from_json,
    ising_to_json,
    read_gset,
    read_gset_graph,
    read_ising_json,
    write_gset,
    write_ising_json,
)
from poqw.problems.model import IsingModel

__all__ = [
    "ExactResult",
    "IsingModel",
    "cut_values",
    "dwave_topology",
    "energy_diagonal",
    "erdos_renyi_graph",
    "index_to_spins",
    "ising_from_json",
    "ising_to_json",
    "ising_to_maxcut",
    "ising_to_qubo",
    "maxcut_to_ising",
    "pm_j_spin_glass",
    "qubo_to_ising",
    "random_maxcut",
    "random_regular_graph",
    "read_gset",
    "read_gset_graph",
    "read_ising_json",
    "sherrington_kirkpatrick",
    "solve_exact",
    "spins_to_index",
    "weighted_graph",
    "write_gset",
    "write_ising_json",
]
