r"""Liquid biopsy: circulating tumour cells (CTCs) in a blood draw.

Live CTCs were shed in the last seconds to minutes (``route`` gives a mean time in blood
of 20-35 s, as most cells arrest in the first capillary beds they meet), far shorter
than a tumour changes, so the blood is at steady state with the current shedding rates.
(The CTC half-life measured in patients after removal of the primary is 1-2.4 h, Meng
2004: far longer than the routing's; the model's counts rest on its shedding rate and
arrest odds, not on that half-life.) In the vein that
drains capillary bed :math:`b` the concentration of live tumour cells is the flux of
live cells through that vein over the blood flow through the bed:

.. math::

    c_b = \frac{1}{F_b} \sum_e r_e \sum_k w_k
          \Bigl(\delta_{eb} + [E_k N_k]_{eb}\,(1 - d_{kb})(1 - a_{kb})\Bigr),

with :math:`r_e` the cells shed per second at entry :math:`e` (an organ's venous
outflow, the lymphatics), :math:`w_k` the share of shed cells that travel in emboli of
kind :math:`k`, :math:`N_k = (I - Q_k)^{-1}` the fundamental matrix of that kind's
routing chain (so :math:`[E_k N_k]_{eb}` is the expected number of times an embolus
shed at :math:`e` enters bed :math:`b`), :math:`d, a` the per-pass death and arrest
probabilities (a pass that neither kills nor holds the embolus sends it on through the
bed's vein, as in :mod:`metacascade.physiology.routing`), and :math:`F_b` the blood
flow through the bed. The :math:`\delta` term is the cells shed straight into the vein
of the bed they grow in. Cells in clusters count as cells.

The count in a sample of volume :math:`V` is Poisson (a thinning of the Poisson number
of cells in the blood) with mean :math:`V c \rho + \lambda`: :math:`\rho` the assay's
recovery (CellSearch, >= 85 %, Allard 2004) and :math:`\lambda` the false-positive
mean, from >= 2 CTC in 1 of 344 healthy donors (Allard 2004). A count at or above the
cancer's cut-off (>= 5 per 7.5 mL; >= 3 in colorectal cancer) is unfavourable. The
cut-offs were validated on 7.5 mL of peripheral blood: a count is compared with them
scaled to 7.5 mL (:func:`per_7_5_ml`: count x 7.5 / volume_ml), and only for a draw from
a peripheral vein (:data:`PERIPHERAL_SITE`); a draw from another site is neither
favourable nor unfavourable (:func:`is_unfavourable`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq

from metacascade.cancers import Cancer, get_cancer
from metacascade.cancers.cascade import DEFAULT_CASCADE, Cascade
from metacascade.citations import Parameter, check_in_bounds, cited
from metacascade.engine.compile import EMBOLUS_KINDS
from metacascade.errors import ParameterError
from metacascade.physiology import Body, get_body, list_bodies
from metacascade.physiology.model import ARTERIAL
from metacascade.physiology.routing import RoutingChain, compile_routing, compiled
from metacascade.references import ALLARD_2004

FloatArray = NDArray[np.float64]

SECONDS_PER_DAY = 86_400.0

#: The bed whose venous outflow stands for an arm vein.
ARM_VEIN_BED = "skeletal_muscle"

#: CellSearch sample volume, mL: the cut-offs are counts in this much blood.
SAMPLE_VOLUME_ML = 7.5
#: The draw site of peripheral blood, where the cut-offs were validated (an arm vein).
PERIPHERAL_SITE = "arm_vein"

RECOVERY = cited(0.85, "1", ALLARD_2004.at(
    "abstract", "CellSearch recovered >= 85 % of spiked tumour cells, linear over 5-1142 "
    "cells; the lower figure is taken"), (0.0, 1.0))

#: Share of healthy donors with >= 2 CTC per 7.5 mL (Allard 2004: 1 of 344).
HEALTHY_AT_LEAST_TWO = 1.0 / 344.0


def poisson_mean_for_tail(share_at_least_two: float) -> float:
    r"""The Poisson mean :math:`\lambda` with :math:`P(N \ge 2) = ` ``share_at_least_two``.

    Solves :math:`1 - e^{-\lambda}(1 + \lambda) = s` (increasing in :math:`\lambda`) with
    Brent's method.
    """
    check_in_bounds(share_at_least_two, (0.0, 0.99), what="share_at_least_two")
    if share_at_least_two == 0.0:
        return 0.0

    def excess(lam: float) -> float:
        return -math.expm1(-lam) - lam * math.exp(-lam) - share_at_least_two

    return float(brentq(excess, 0.0, 50.0, xtol=1e-14))


_FP_MEAN = round(poisson_mean_for_tail(HEALTHY_AT_LEAST_TWO), 6)

FALSE_POSITIVE_MEAN = cited(
    _FP_MEAN, "cell/7.5 mL",
    ALLARD_2004.at("abstract", ">= 2 CTC in 1 of 344 healthy donors; a Poisson count of "
                   f"false positives with P(N >= 2) = 1/344 has mean {_FP_MEAN:.4f} per "
                   "7.5 mL (solved with Brent's method)"), (0.0, 1.0))


# --- blood flow through the beds ------------------------------------------------------
def bed_flows_ml_per_s(body: Body) -> FloatArray:
    r"""Blood flow through every capillary bed of ``body``, mL/s, in :attr:`Body.organs` order.

    The circulation is cut at the aorta: the arterial junction carries the cardiac
    output, and every other node carries what flows into it,
    :math:`f_v = s_v + \sum_u f_u P_{uv}` with :math:`P` the drainage and feed
    fractions. A bed fed by a junction besides the aorta receives that junction's flow
    too: the liver gets its hepatic-artery share plus the whole portal vein (the outflow
    of stomach, intestines, spleen, pancreas and upper rectum), and the lung the whole
    venous return plus its bronchial share, together the cardiac output.
    """
    nodes = (*body.beds, *body.junctions)
    index = {name: i for i, name in enumerate(nodes)}
    fractions = np.zeros((len(nodes), len(nodes)))
    for name, bed in body.beds.items():
        for target, frac in bed.drains_to.items():
            fractions[index[name], index[target]] = frac.value
    for name, junction in body.junctions.items():
        for target, frac in junction.feeds.items():
            fractions[index[name], index[target]] = frac.value
    fractions[:, index[ARTERIAL]] = 0.0
    source = np.zeros(len(nodes))
    source[index[ARTERIAL]] = body.cardiac_output.value * 1000.0 / 60.0
    flow = np.linalg.solve(np.eye(len(nodes)) - fractions.T, source)
    return np.asarray(flow[: len(body.beds)], dtype=np.float64)


def bed_flow_ml_per_s(body: Body, organ: str) -> float:
    """Blood flow through the capillary bed ``organ`` of ``body``, mL/s.

    See :func:`bed_flows_ml_per_s`; an unknown organ is refused with the allowed names.
    """
    if organ not in body.beds:
        raise ParameterError(f"organ: unknown organ {organ!r} for body {body.name!r}; "
                             f"allowed: {', '.join(body.organs)}")
    return float(bed_flows_ml_per_s(body)[body.organs.index(organ)])


# --- the circulation seen by a blood draw ---------------------------------------------
@dataclass(frozen=True, eq=False)
class Circulation:
    """A body, its routing chains per embolus kind, and the mix of emboli shed.

    Parameters
    ----------
    body
        The body the chains were compiled from (for the blood flows).
    chains
        One :class:`~metacascade.physiology.routing.RoutingChain` per embolus kind.
    embolus_share
        Share of emboli of each kind (sums to 1), as ``CompiledModel.embolus_share``.
    cells_per_embolus
        Cells in one embolus of each kind, as ``CompiledModel.cells_per_embolus``.
    primary_organ
        The primary's organ: sets the ``"tumour_vein"`` draw site.
    lymphatic_share
        Share of the primary's shed cells that enter the lymphatics first.

    """

    body: Body
    chains: tuple[RoutingChain, ...]
    embolus_share: FloatArray
    cells_per_embolus: FloatArray
    primary_organ: str | None = None
    lymphatic_share: float = 0.0
    flow_ml_per_s: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        share = np.asarray(self.embolus_share, dtype=np.float64)
        cells = np.asarray(self.cells_per_embolus, dtype=np.float64)
        if not self.chains or share.shape != (len(self.chains),) or cells.shape != share.shape:
            raise ParameterError("embolus_share: one share and one cells_per_embolus per "
                                 f"chain ({len(self.chains)} chains)")
        if (share < 0).any() or abs(share.sum() - 1.0) > 1e-9:
            raise ParameterError(f"embolus_share: {share.tolist()} must be >= 0 and sum to 1")
        if (cells < 1).any():
            raise ParameterError(f"cells_per_embolus: {cells.tolist()} must all be >= 1")
        if any(c.states != self.body.organs or c.entries != self.chains[0].entries
               or c.vertebral_plexus != self.chains[0].vertebral_plexus for c in self.chains):
            raise ParameterError(f"chains: every chain must be compiled from body "
                                 f"{self.body.name!r} with the same options")
        if self.chains[0].entries[: len(self.body.organs)] != self.body.organs:
            raise ParameterError("chains: the first entries must be the beds, in body order")
        if self.primary_organ is not None and self.primary_organ not in self.body.beds:
            raise ParameterError(f"primary_organ: {self.primary_organ!r} is not an organ of "
                                 f"{self.body.name!r}; allowed: {', '.join(self.body.organs)}")
        check_in_bounds(self.lymphatic_share, (0.0, 1.0), what="lymphatic_share")
        body = self.body
        if not self.chains[0].vertebral_plexus:
            body = body.without_vertebral_plexus()
        object.__setattr__(self, "embolus_share", share)
        object.__setattr__(self, "cells_per_embolus", cells)
        object.__setattr__(self, "flow_ml_per_s", bed_flows_ml_per_s(body))

    @classmethod
    def for_cancer(cls, cancer: Cancer | str, body: Body | str | None = None, *,
                   cascade: Cascade = DEFAULT_CASCADE, embolus_mix: bool = True,
                   vertebral_plexus: bool = True) -> Circulation:
        """The circulation of ``body`` (default: the cancer's) with the cancer's emboli.

        The embolus mix follows ``engine.compile.compile_model``: clusters take the
        cancer's cluster share, platelet-cloaked cells its platelet share of the rest;
        a cluster holds ``cascade.cells_per_cluster`` cells.
        """
        cancer = get_cancer(cancer) if isinstance(cancer, str) else cancer
        if body is None:
            body = cancer.default_body
        body = get_body(body) if isinstance(body, str) else body
        cancer.check_body(body)
        cluster = cancer.cluster_share.value if embolus_mix else 0.0
        platelet = cancer.platelet_share.value if embolus_mix else 0.0
        shares = {"single": (1 - cluster) * (1 - platelet),
                  "platelet": (1 - cluster) * platelet, "cluster": cluster}
        cells = {"single": 1.0, "platelet": 1.0, "cluster": cascade.cells_per_cluster.value}
        size = cancer.size_class.name
        in_catalog = body.name in list_bodies() and get_body(body.name) is body
        chains = tuple(
            compiled(body.name, kind, size, vertebral_plexus) if in_catalog
            else compile_routing(body, kind, size_class=size, vertebral_plexus=vertebral_plexus)
            for kind in EMBOLUS_KINDS)
        return cls(body, chains, np.array([shares[k] for k in EMBOLUS_KINDS]),
                   np.array([cells[k] for k in EMBOLUS_KINDS]),
                   primary_organ=cancer.primary_organ,
                   lymphatic_share=cancer.lymphatic_share.value)

    @property
    def entries(self) -> tuple[str, ...]:
        """Entry points, the last axis of every shedding-rate array."""
        return self.chains[0].entries

    @property
    def draw_sites(self) -> tuple[str, ...]:
        """Where blood can be drawn: ``arm_vein``, ``tumour_vein`` and every bed's vein."""
        return ("arm_vein", "tumour_vein", *self.body.organs)

    @property
    def cell_share(self) -> FloatArray:
        """Share of shed *cells* travelling in each embolus kind."""
        cells = self.embolus_share * self.cells_per_embolus
        return np.asarray(cells / cells.sum(), dtype=np.float64)

    @cached_property
    def outflow_per_cell(self) -> FloatArray:
        """(entries x beds): live cells leaving each bed through its vein per cell shed.

        Shed straight into the bed's vein (entry = bed), plus the expected passes
        through the bed that neither kill nor arrest, weighted over the embolus kinds.
        """
        n = len(self.body.organs)
        direct = np.zeros((len(self.entries), n))
        direct[np.arange(n), np.arange(n)] = 1.0
        passing = np.zeros_like(direct)
        for weight, chain in zip(self.cell_share, self.chains, strict=True):
            visits = chain.E @ chain.fundamental()
            through = (1.0 - chain.death_per_pass) * (1.0 - chain.arrest_per_pass)
            passing += weight * visits * through
        out = direct + passing
        out.setflags(write=False)
        return out

    def site_organ(self, draw_site: str) -> str:
        """The bed whose venous outflow a draw site samples."""
        if draw_site == "arm_vein":
            return ARM_VEIN_BED
        if draw_site == "tumour_vein":
            if self.primary_organ is None:
                raise ParameterError("draw_site: 'tumour_vein' needs the circulation's "
                                     "primary_organ")
            return self.primary_organ
        if draw_site in self.body.beds:
            return draw_site
        raise ParameterError(f"draw_site: unknown draw site {draw_site!r}; allowed: "
                             f"{', '.join(self.draw_sites)}")

    def concentration_weights(self, draw_site: str = "arm_vein") -> FloatArray:
        """(entries,): cells per mL at ``draw_site`` per cell per second shed at each entry."""
        b = self.body.organs.index(self.site_organ(draw_site))
        return np.asarray(self.outflow_per_cell[:, b] / self.flow_ml_per_s[b],
                          dtype=np.float64)

    def primary_sources(self, rate_per_day: float) -> FloatArray:
        """(entries,): a primary shedding ``rate_per_day`` cells into its vein and lymph."""
        if self.primary_organ is None:
            raise ParameterError("primary_organ: the circulation has no primary organ")
        check_in_bounds(rate_per_day, (0.0, math.inf), what="rate_per_day", unit="cell/d")
        sources = np.zeros(len(self.entries))
        sources[self.entries.index(self.primary_organ)] = (1 - self.lymphatic_share) * rate_per_day
        sources[self.entries.index("lymphatic")] += self.lymphatic_share * rate_per_day
        return sources


def _sources(sources_per_day: ArrayLike, circulation: Circulation) -> FloatArray:
    rates = np.asarray(sources_per_day, dtype=np.float64)
    n = len(circulation.entries)
    if rates.ndim == 0 or rates.shape[-1] != n:
        raise ParameterError(f"sources_per_day: last axis must have one rate per entry ({n}: "
                             f"{', '.join(circulation.entries)}), got shape {rates.shape}")
    if not (np.isfinite(rates).all() and (rates >= 0).all()):
        raise ParameterError("sources_per_day: rates must be finite and >= 0 cells/day")
    return rates


def ctc_concentration_per_ml(sources_per_day: ArrayLike, circulation: Circulation, *,
                             draw_site: str = "arm_vein") -> FloatArray:
    """Live tumour cells per mL of blood at ``draw_site``.

    Parameters
    ----------
    sources_per_day
        Cells shed per day at each entry of ``circulation.entries``, shape
        ``(..., entries)`` (for example ``(times, entries)``).
    circulation
        The body, its routing chains and the embolus mix.
    draw_site
        ``"arm_vein"`` (default), ``"tumour_vein"`` or a bed name (that bed's vein).

    Returns
    -------
    Cells per mL, shape ``sources_per_day.shape[:-1]``.

    """
    rates = _sources(sources_per_day, circulation)
    weights = circulation.concentration_weights(draw_site)
    return np.asarray(rates @ weights / SECONDS_PER_DAY, dtype=np.float64)


def expected_ctc(sources_per_day: ArrayLike, circulation: Circulation, *,
                 draw_site: str = "arm_vein", volume_ml: float = SAMPLE_VOLUME_ML,
                 recovery: float = RECOVERY.value,
                 false_positive_mean: float = FALSE_POSITIVE_MEAN.value) -> FloatArray:
    """Poisson mean of the CTC count in one blood sample.

    ``volume_ml x concentration x recovery + false_positive_mean``, with the
    concentration from :func:`ctc_concentration_per_ml` (same ``sources_per_day``,
    ``circulation`` and ``draw_site``).

    Parameters
    ----------
    sources_per_day, circulation, draw_site
        As for :func:`ctc_concentration_per_ml`.
    volume_ml
        Sample volume, mL (> 0; CellSearch: 7.5).
    recovery
        Share of the sample's tumour cells the assay counts, in [0, 1] (Allard 2004:
        >= 0.85).
    false_positive_mean
        Mean false-positive count per sample (>= 0; default from Allard 2004's healthy
        donors, per 7.5 mL, not scaled with ``volume_ml``).

    Returns
    -------
    The mean count, shape ``sources_per_day.shape[:-1]`` (0-d for one draw).

    """
    if not (math.isfinite(volume_ml) and volume_ml > 0):
        raise ParameterError(f"volume_ml: {volume_ml!r} mL; the sample volume must be > 0 mL")
    check_in_bounds(recovery, (0.0, 1.0), what="recovery")
    check_in_bounds(false_positive_mean, (0.0, math.inf), what="false_positive_mean")
    concentration = ctc_concentration_per_ml(sources_per_day, circulation, draw_site=draw_site)
    return np.asarray(volume_ml * concentration * recovery + false_positive_mean,
                      dtype=np.float64)


def draw_ctc(mean: ArrayLike, rng: np.random.Generator, *,
             size: int | tuple[int, ...] | None = None) -> NDArray[np.int64]:
    """Poisson CTC counts with the given mean(s) (``size`` as for ``Generator.poisson``)."""
    lam = np.asarray(mean, dtype=np.float64)
    if not (np.isfinite(lam).all() and (lam >= 0).all()):
        raise ParameterError("mean: a CTC count's mean must be finite and >= 0")
    return np.asarray(rng.poisson(lam, size=size), dtype=np.int64)


def per_7_5_ml(counts: ArrayLike, volume_ml: ArrayLike) -> FloatArray:
    """CTC counts in samples of ``volume_ml`` scaled to 7.5 mL: ``count x 7.5 / volume_ml``.

    The unit of the cut-offs (:func:`ctc_cutoff`): a count of 20 in 30 mL is 5 per
    7.5 mL. A 7.5 mL count is returned as it is (exactly).
    """
    volumes = np.asarray(volume_ml, dtype=np.float64)
    if not (np.isfinite(volumes).all() and (volumes > 0).all()):
        raise ParameterError(f"volume_ml: {volume_ml!r} mL; the sample volume must be > 0 mL")
    return np.asarray(np.asarray(counts, dtype=np.float64) * SAMPLE_VOLUME_ML / volumes,
                      dtype=np.float64)


def is_unfavourable(counts: ArrayLike, cutoff: int, *,
                    volume_ml: ArrayLike = SAMPLE_VOLUME_ML) -> NDArray[np.bool_]:
    """Whether counts of peripheral-blood draws of ``volume_ml`` reach ``cutoff`` per 7.5 mL.

    The count scaled to 7.5 mL (:func:`per_7_5_ml`) at or above the cut-off. Only a
    draw from a peripheral vein (:data:`PERIPHERAL_SITE`) is classified: the callers
    give no flag to the others.
    """
    if int(cutoff) != cutoff or cutoff < 1:
        raise ParameterError(f"cutoff: {cutoff!r}; must be a whole number >= 1")
    return np.asarray(per_7_5_ml(counts, volume_ml) >= cutoff, dtype=bool)


def classify(counts: ArrayLike, cutoff: int, *, volume_ml: ArrayLike = SAMPLE_VOLUME_ML,
             ) -> NDArray[np.str_]:
    """``"unfavourable"`` where a count reaches ``cutoff`` per 7.5 mL, else ``"favourable"``.

    ``counts`` are peripheral-blood counts in samples of ``volume_ml`` (7.5 mL by
    default), scaled to 7.5 mL and compared with the cut-off (:func:`is_unfavourable`).
    """
    return np.where(is_unfavourable(counts, cutoff, volume_ml=volume_ml), "unfavourable",
                    "favourable")


def ctc_cutoff_parameter(cancer_name: str) -> Parameter:
    """The cancer's CellSearch cut-off per 7.5 mL, with its source.

    Read from the cancer catalog: Cristofanilli 2004 (breast, >= 5), de Bono 2008
    (prostate, >= 5), Cohen 2008 (colon and rectum, >= 3); other types carry >= 5 by
    stated analogy. An unknown name raises ``CatalogError`` listing the known cancers.
    """
    return get_cancer(cancer_name).ctc_cutoff


def ctc_cutoff(cancer_name: str) -> int:
    """Count per 7.5 mL at or above which a draw is unfavourable for ``cancer_name``."""
    return int(ctc_cutoff_parameter(cancer_name).value)


def draining_vein_ratio(circulation: Circulation) -> float:
    """CTC concentration in the tumour-draining vein over that in an arm vein.

    Only the primary sheds (its lymphatic share through the lymph node); the ratio does
    not depend on the shedding rate.
    """
    sources = circulation.primary_sources(1.0)
    tumour = ctc_concentration_per_ml(sources, circulation, draw_site="tumour_vein")
    arm = ctc_concentration_per_ml(sources, circulation, draw_site="arm_vein")
    return float(tumour / arm)
