"""Layer-2 compute: distributed execution for solver clusters (Dask), sliced contraction.

Submodules are imported on use (``poqw.compute.slicing``), so importing this package stays light.
"""
