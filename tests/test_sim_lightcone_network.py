"""Light-cone tensor networks: limits on what one cone may cost."""

from __future__ import annotations

import pytest


def test_a_cone_too_costly_to_contract_is_refused_before_allocating() -> None:
    """At p=4 the cones of a small random 3-regular graph span loops: the plan is sliced to fit
    memory, its cost estimated, and the cone refused with a clear error instead of a MemoryError
    or hours of work."""
    from poqw.errors import ProblemTooLarge
    from poqw.problems import maxcut_to_ising, random_regular_graph
    from poqw.sim.lightcone import LightconeQAOA
    from poqw.sim.lightcone_network import MAX_CONE_FLOPS, MAX_INTERMEDIATE

    model = maxcut_to_ising(random_regular_graph(3, 60, seed=1))
    engine = LightconeQAOA(model)
    with pytest.raises(ProblemTooLarge, match="use fewer layers or the MPS backend"):
        engine.expectation([0.1] * 4, [0.2] * 4)
    for plan in engine._plans.plans.values():  # what was accepted fits both limits
        assert plan.max_size <= MAX_INTERMEDIATE
        assert plan.tree.total_flops() <= MAX_CONE_FLOPS
