"""Array kernels of the MPS engine: two-site updates with truncation, canonical moves, sampling.

An MPS is a list of complex tensors ``A[k]`` of shape (left bond, 2, right bond). These free
functions do one step each on plain arrays; :mod:`poqw.sim.mps` orchestrates them. Truncation
keeps the largest singular values, at most ``max_bond`` of them, dropping a tail whose weight
(sum of squared singular values over the total) is at most ``cutoff``; the kept ones are
rescaled so the state stays normalised, and the dropped weight is returned so the caller can
track the fidelity estimate prod(1 - discarded).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.linalg as sla

__all__ = [
    "ComplexArray",
    "apply_two_site",
    "move_centre_left",
    "move_centre_right",
    "sample_right_canonical",
    "transfer",
    "truncated_svd",
]

ComplexArray = npt.NDArray[np.complex128]


def truncated_svd(
    theta: ComplexArray, max_bond: int | None, cutoff: float, driver: str = "gesdd"
) -> tuple[ComplexArray, npt.NDArray[np.float64], ComplexArray, float]:
    """SVD of a matrix keeping the weight-dominant part: (U, s, Vh, discarded weight).

    ``driver`` 'gesdd' (divide and conquer, fast) occasionally loses accuracy (a 3e-10 error
    in a 12-qubit state was seen); 'gesvd' is slower and accurate to the last bits.
    """
    try:
        u, s, vh = sla.svd(theta, full_matrices=False, lapack_driver=driver, check_finite=False)
    except np.linalg.LinAlgError:  # gesdd can fail to converge; gesvd is slower but robust
        u, s, vh = sla.svd(theta, full_matrices=False, lapack_driver="gesvd", check_finite=False)
    weights = s * s
    total = float(weights.sum())
    if total == 0.0:
        return u[:, :1], s[:1], vh[:1], 0.0
    # tail[k] = weight of the singular values from index k onwards
    tail = np.cumsum(weights[::-1])[::-1] / total
    keep = int(np.count_nonzero(tail > cutoff))
    keep = max(keep, 1)
    if max_bond is not None:
        keep = min(keep, max_bond)
    discarded = float(tail[keep]) if keep < s.shape[0] else 0.0
    s = s[:keep] / np.sqrt(float(weights[:keep].sum()))
    return u[:, :keep], s, vh[:keep], discarded


def apply_two_site(
    left: ComplexArray,
    right: ComplexArray,
    phase: ComplexArray | None,
    swap: bool,
    centre_left: bool,
    max_bond: int | None,
    cutoff: float,
    driver: str = "gesdd",
) -> tuple[ComplexArray, ComplexArray, float]:
    """Apply a diagonal two-site gate (``phase[s1, s2]``) and/or a swap to neighbouring sites.

    One of the two tensors must hold the orthogonality centre. The result puts the centre on
    the left tensor when ``centre_left`` (the next step moves left), else on the right one.
    Returns the new (left, right) tensors and the discarded weight.
    """
    dl, dr = left.shape[0], right.shape[2]
    theta = (left.reshape(dl * 2, -1) @ right.reshape(-1, 2 * dr)).reshape(dl, 2, 2, dr)
    if phase is not None:
        theta = theta * phase[None, :, :, None]
    if swap:
        theta = theta.transpose(0, 2, 1, 3)
    u, s, vh, discarded = truncated_svd(theta.reshape(dl * 2, 2 * dr), max_bond, cutoff,
                                        driver)
    if centre_left:
        u = u * s[None, :]
    else:
        vh = vh * s[:, None]
    k = s.shape[0]
    return (
        np.ascontiguousarray(u).reshape(dl, 2, k),
        np.ascontiguousarray(vh).reshape(k, 2, dr),
        discarded,
    )


def move_centre_right(centre: ComplexArray, nxt: ComplexArray) -> tuple[ComplexArray, ComplexArray]:
    """QR step: make ``centre`` left-canonical and push the centre into ``nxt``."""
    dl, _, dr = centre.shape
    q, r = np.linalg.qr(centre.reshape(dl * 2, dr))
    k = q.shape[1]
    new_next = (r @ nxt.reshape(dr, -1)).reshape(k, 2, nxt.shape[2])
    return q.reshape(dl, 2, k), new_next


def move_centre_left(prev: ComplexArray, centre: ComplexArray) -> tuple[ComplexArray, ComplexArray]:
    """LQ step: make ``centre`` right-canonical and push the centre into ``prev``."""
    dl, _, dr = centre.shape
    q, r = np.linalg.qr(centre.reshape(dl, 2 * dr).T)
    k = q.shape[1]
    new_centre = np.ascontiguousarray(q.T).reshape(k, 2, dr)
    new_prev = (prev.reshape(-1, dl) @ r.T).reshape(prev.shape[0], 2, k)
    return new_prev, new_centre


def sample_right_canonical(
    tensors: list[ComplexArray], shots: int, rng: np.random.Generator
) -> npt.NDArray[np.uint8]:
    """Perfect samples (bits per site) from an MPS whose centre is site 0, all shots at once.

    With every site right of the current one right-canonical, the conditional probability of
    bit ``b`` at site ``k`` is ``|v A[k][:, b, :]|^2`` for the normalised left vector ``v`` of
    the bits drawn so far, so each site costs one (shots, D) x (D, 2D) product.
    """
    n = len(tensors)
    bits = np.empty((shots, n), dtype=np.uint8)
    v = np.ones((shots, 1), dtype=np.complex128)
    rows = np.arange(shots)
    for k, a in enumerate(tensors):
        dl, _, dr = a.shape
        w = (v @ a.reshape(dl, 2 * dr)).reshape(shots, 2, dr)
        p = np.einsum("sbr,sbr->sb", w.real, w.real) + np.einsum("sbr,sbr->sb", w.imag, w.imag)
        norm = p[:, 0] + p[:, 1]
        one = rng.random(shots) * norm < p[:, 1]
        bits[:, k] = one
        choice = one.astype(np.intp)
        v = w[rows, choice] / np.sqrt(p[rows, choice])[:, None]
    return bits


def transfer(env: ComplexArray, t: ComplexArray, z: npt.NDArray[np.float64] | None) -> ComplexArray:
    """Carry a left environment through one site: sum_b z_b A[b]^dagger env A[b] (z=None: 1)."""
    d, _, dr = t.shape
    x = (env @ t.reshape(d, 2 * dr)).reshape(d, 2, dr)
    if z is not None:
        x = x * z[None, :, None]
    out: ComplexArray = t.reshape(d * 2, dr).conj().T @ x.reshape(d * 2, dr)
    return out
