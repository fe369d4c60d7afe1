"""One patient's lesions under therapy, for the per-patient clinic (:mod:`.course`).

:class:`Patient` holds the primary (lesion 0) and every colony of a result, the therapy
given so far and its effect on each lesion (the colonies the treated patient has, the
day therapy eradicated a lesion), their sizes as closed forms of time, and the weekly
death checks between two decisions (skipped where a bound proves no death).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from metacascade.clinic.criteria import BOUND_MARGIN, DEATH_GRID_DAYS, VITAL_ORGAN_LETHAL_CELLS
from metacascade.clinic.imaging import Detector, get_modality
from metacascade.clinic.therapy import TherapyHistory
from metacascade.engine.growth import colony_cells, primary_cells
from metacascade.engine.result import Result
from metacascade.scenario import Clinic

FloatArray = NDArray[np.float64]


class Patient:
    """The primary (lesion 0) and every colony, with therapy applied.

    The engine's lesions are the untreated natural history; :attr:`kept` marks the
    colonies the treated patient has (a thinning of the foundings, module
    :mod:`metacascade.clinic.therapy`), :attr:`eradicated` the day therapy eradicated a
    lesion (inf: never).
    """

    def __init__(self, result: Result, clinic: Clinic, rng: np.random.Generator) -> None:
        model, raw = result.model, result.raw
        self.result, self.model, self.clinic, self.rng = result, model, clinic, rng
        self.organs = np.asarray(model.organs)
        self.organ = np.concatenate([[model.primary_organ], raw.organ]).astype(np.int64)
        self.founded = np.concatenate([[0.0], raw.founded])
        #: Lesions in founding order (the engine's colonies are; checked, not assumed).
        self._in_order = bool(np.all(self.founded[1:] >= self.founded[:-1]))
        self.w, self.switch = raw.w, raw.switch
        self.parent = np.concatenate([[-1], raw.parent]).astype(np.int64)
        n = len(self.organ)
        self.ids = np.arange(n, dtype=np.int64)
        lymph = model.organs.index("lymph_node") if "lymph_node" in model.organs else -1
        self.distant = (self.organ != model.primary_organ) & (self.organ != lymph)
        self.distant[0] = False
        self.kept = np.ones(n, dtype=bool)
        self.eradicated = np.full(n, np.inf)
        self._live_ids: NDArray[np.int64] | None = None
        self._memo: tuple[float, FloatArray] | None = None
        self._checks_for: tuple[NDArray[np.int64], FloatArray] | None = None
        #: Untreated sizes at the last two times asked (:meth:`_untreated_at`), and the
        #: survival factors at the last time asked (:meth:`_survival_at`).
        self._now: tuple[float, FloatArray] | None = None
        self._then: tuple[float, FloatArray] | None = None
        self._factor: tuple[float, FloatArray] | None = None
        self._diameter: tuple[FloatArray, FloatArray] | None = None
        self._seen: tuple[float, FloatArray] | None = None
        #: (time, the live lesions they are of, sizes).
        self._seen_untreated: tuple[float, NDArray[np.int64], FloatArray] | None = None
        #: Day each lesion starts shedding (the primary from the start).
        self.switch_day = np.concatenate([[-np.inf], raw.switch])
        # No scan of this clinic can find a colony at its avascular limit.
        self._blind = all(
            model.diameter_mm(model.avascular_cells) * (1.0 + BOUND_MARGIN)
            <= get_modality(scan.modality).floor_mm.value for scan in clinic.scans)
        self._detectors: dict[tuple[str, tuple[str, ...] | None], Detector] = {}
        # The bounds of advance() need sizes that never shrink: a positive growth rate,
        # and colonies that hold at least one cell from founding and stall below their
        # capacity (then every growth law here is non-decreasing in time).
        self._bounded = (self._in_order and model.colony_rate_per_day > 0
                         and model.metastasis_capacity_cells > model.avascular_cells >= 1.0)
        self.therapy = TherapyHistory(self.organs[self.organ].tolist(), self.founded, rng)
        vital = ({o: p.value for o, p in VITAL_ORGAN_LETHAL_CELLS.items()}
                 if clinic.vital_organ_lethal_cells is None
                 else clinic.vital_organ_lethal_cells)
        self.checks: list[tuple[str, NDArray[np.bool_], float]] = [
            ("total", np.ones(n, dtype=bool), clinic.lethal_burden_cells)]
        self.checks += [(organ, self.organ == model.organs.index(organ), cells)
                        for organ, cells in vital.items() if organ in model.organs]
        self._lethal = np.array([lethal for _, _, lethal in self.checks])
        #: (lesions, checks) 0/1: which lesions count towards each lethal check.
        self._check_all = np.stack([mask for _, mask, _ in self.checks], axis=1).astype(float)

    def untreated(self, t: float | FloatArray, ids: NDArray[np.int64] | None = None,
                  ) -> FloatArray:
        """(times..., lesions) untreated cells of every lesion (or of sorted ``ids``).

        Only the colonies founded by the latest time are evaluated: the engine stores
        colonies in founding order, so they are a prefix of ``ids``, and every later
        colony holds exactly 0 cells (what :func:`colony_cells` gives before founding).
        """
        t = np.asarray(t, dtype=float)
        ids = self.ids if ids is None else ids
        primary = ids.size > 0 and ids[0] == 0
        col = ids[1:] - 1 if primary else ids - 1
        founded = self.founded[1:][col]
        if self._in_order and t.size and col.size:
            m = int(np.searchsorted(founded, t.max(), side="right"))
        else:
            m = col.size
        if m == col.size:
            cells = colony_cells(self.model, t[..., None], founded, self.w[col],
                                 self.switch[col])
        else:
            cells = np.zeros((*t.shape, col.size))
            head = col[:m]
            cells[..., :m] = colony_cells(self.model, t[..., None], founded[:m],
                                          self.w[head], self.switch[head])
        if primary:
            cells = np.concatenate([primary_cells(self.model, t)[..., None], cells], axis=-1)
        return cells

    def changed(self) -> None:
        """Forget cached sizes (kept, eradicated or therapy changed).

        The untreated sizes stay: they depend on time only, and the lesions they were
        computed for only ever lose members (:meth:`live`).
        """
        self._live_ids = None
        self._memo = None
        self._factor = None
        self._seen = None

    def _untreated_at(self, t: float) -> FloatArray:
        """(lesions,) untreated cells at ``t`` of the lesions live when first asked (else 0).

        Computed as :meth:`cells` computes them (one time, the live lesions), so the
        values are the same; kept for the next decision's bounds (:meth:`_eradicate_quiet`).
        """
        if self._now is not None and self._now[0] == t:
            return self._now[1]
        live = self.live()
        full = np.zeros(len(self.ids))
        full[live] = self.untreated(t, live)
        self._then, self._now = self._now, (t, full)
        return full

    def _survival_at(self, t: float) -> FloatArray:
        """(lesions,) survival factors at ``t`` of the live lesions founded by ``t`` (else 1)."""
        if self._factor is not None and self._factor[0] == t:
            return self._factor[1]
        head = self._founded_by(self.live(), t)
        full = np.ones(len(self.ids))
        full[head] = self.therapy.survival(t, head)
        self._factor = (t, full)
        return full

    def _founded_by(self, ids: NDArray[np.int64], t: float) -> NDArray[np.int64]:
        """The sorted ``ids`` founded by ``t`` (a prefix: lesions are in founding order)."""
        return ids[:int(np.searchsorted(self.founded[ids], t, side="right"))]

    def live(self) -> NDArray[np.int64]:
        """Ids of the lesions the treated patient has (kept, not eradicated)."""
        if self._live_ids is None:
            self._live_ids = np.nonzero(self.kept & np.isinf(self.eradicated))[0]
        return self._live_ids

    def cells(self, t: float | FloatArray) -> FloatArray:
        """(times..., lesions) cells with therapy applied.

        Times never go back before the last eradication.
        """
        t = np.asarray(t, dtype=float)
        if t.ndim == 0 and self._memo is not None and self._memo[0] == float(t):
            return self._memo[1]
        live = self.live()
        if t.ndim == 0 and self._in_order:
            # The same values as below: each lesion's size and factor are computed
            # element by element, and a lesion not founded yet holds 0 cells.
            sub = self._untreated_at(float(t))[live]
            if self.therapy.periods:
                sub = sub * self._survival_at(float(t))[live]
        else:
            sub = self.untreated(t, live)
            if self.therapy.periods:
                sub = sub * self.therapy.survival(t[..., None], live)
        cells = np.zeros((*t.shape, len(self.ids)))
        cells[..., live] = sub
        if t.ndim == 0:
            self._memo = (float(t), cells)
        return cells

    def seen(self, t: float) -> FloatArray:
        """(lesions,) cells at ``t`` as scans, blood draws and RECIST read them.

        Exact for the primary and every colony past its angiogenic switch, which is all
        these read: only those shed, and before therapy a colony that has not switched
        holds at most its avascular limit, given here in its place, which no scan of
        the clinic can find (``_blind``) but every scan counts as present (the same
        random draws). Under therapy, or with a scan that could see such a colony,
        :meth:`cells`.
        """
        if self.therapy.periods or not self._blind or not self._in_order:
            return self.cells(t)
        if self._seen is None or self._seen[0] != t:
            live = self.live()
            cells = self._untreated_seen(t)
            assert self._seen_untreated is not None
            if self._seen_untreated[1] is not live:  # computed for more lesions
                cells = np.where(self.kept & np.isinf(self.eradicated), cells, 0.0)
            self._seen = (t, cells)
        return self._seen[1]

    def _untreated_seen(self, t: float) -> FloatArray:
        """(lesions,) untreated cells of the live lesions at ``t`` (0 if not founded).

        The avascular limit stands for a colony that has not switched (an upper bound).
        Kept for ``t`` as :meth:`_untreated_at` is.
        """
        if self._seen_untreated is not None and self._seen_untreated[0] == t:
            return self._seen_untreated[2]
        live = self.live()
        head = self._founded_by(live, t)
        switched = self.switch_day[head] <= t
        full = np.zeros(len(self.ids))
        full[head[~switched]] = self.model.avascular_cells
        exact = head[switched]
        full[exact] = self.untreated(t, exact)
        self._seen_untreated = (t, live, full)
        return full

    def diameter_mm(self, t: float) -> FloatArray:
        """(lesions,) diameters at ``t``, mm, of :meth:`seen` (kept while it is)."""
        cells = self.seen(t)
        if self._diameter is None or self._diameter[0] is not cells:
            self._diameter = (cells, self.model.diameter_mm(cells))
        return self._diameter[1]

    def detector(self, modality: str, regions: tuple[str, ...] | None) -> Detector:
        """Detection curves of a modality (limited to ``regions``) for this patient's organs."""
        key = (modality, regions)
        if key not in self._detectors:
            self._detectors[key] = Detector(modality, self.model.organs, regions=regions)
        return self._detectors[key]

    def advance(self, previous: float, t: float) -> tuple[float, str, float] | None:
        """Move from ``previous`` to ``t``; the death (day, cause, burden) or None.

        Settles the foundings in (previous, t], then checks eradication and death on the
        weekly grid in (previous, t] and at ``t``. Most intervals provably hold no death
        (:meth:`_may_die`); then the grid is evaluated only for the lesions that may be
        eradicated (:meth:`_eradicate_quiet`), with the same result.
        """
        self._settle(previous, t)
        first = 0.0 if math.isinf(previous) else previous
        grid = np.arange(math.ceil(first / DEATH_GRID_DAYS) * DEATH_GRID_DAYS, t,
                         DEATH_GRID_DAYS)
        times = np.append(grid[grid > previous], t)
        live = self.live()
        chunk = max(1, 2_000_000 // max(1, len(live)))
        if self._bounded and not self._may_die(previous, t, live):
            if self.therapy.periods:
                self._eradicate_quiet(previous, t, times, live, chunk)
            return None
        for start in range(0, len(times), chunk):
            block = times[start:start + chunk]
            cells = self.untreated(block, live)
            if self.therapy.periods:
                cells = cells * self.therapy.survival(block[:, None], live)
                cells = self._eradicate(block, cells, live)
            burdens = cells @ self._check_matrix(live)
            best: tuple[float, str, float] | None = None
            for k, (name, _, lethal) in enumerate(self.checks):  # the total first on ties
                hit = np.nonzero(burdens[:, k] >= lethal)[0]
                if hit.size and (best is None or block[hit[0]] < best[0]):
                    best = (float(block[hit[0]]), name, float(burdens[hit[0], k]))
            if best is not None:
                return best
        return None

    def _may_die(self, previous: float, t: float, live: NDArray[np.int64]) -> bool:
        r"""Whether a burden on the grid in (previous, t] may be lethal (False: none is).

        The lesions on the grid are ``live``; each one's untreated size never shrinks,
        and therapy multiplies it by a survival factor :math:`S_i \le 1` that never
        grows while therapy is fixed (between two decisions). Each grid burden is
        therefore at most the sum of :math:`U_i(t) S_i(\text{previous})` over the lesions
        it counts; if that bound is below every lethal threshold (with
        :data:`BOUND_MARGIN`), no grid time is lethal. The primary's removal breaks the
        first premise (it drops to 0 cells), so an interval holding it is never skipped.
        """
        if previous < self.model.primary_removed_day <= t:
            return True
        # The sizes below are 0 for lesions not live when they were computed, a
        # superset of ``live``: the sums still bound the grid's burdens.
        limit = self._lethal * (1.0 - BOUND_MARGIN)
        matrix = self._check_all
        # Before therapy nothing needs the exact sizes of avascular colonies.
        if not self.therapy.periods and not np.any(self._untreated_seen(t) @ matrix >= limit):
            return False
        upper = self._untreated_at(t)
        if not np.any(upper @ matrix >= limit):
            return False
        if not self.therapy.periods or math.isinf(previous):
            return True
        # A lesion founded after ``previous`` has had no exposure: S = 1.
        factor = np.ones(len(self.ids))
        head = self._founded_by(live, previous)
        factor[head] = self.therapy.survival(previous, head)
        return bool(np.any((upper * factor) @ matrix >= limit))

    def _eradicate_quiet(self, previous: float, t: float, times: FloatArray,
                         live: NDArray[np.int64], chunk: int) -> None:
        r"""Eradication on the grid ``times`` in (previous, t], when no death is possible.

        On the grid a lesion founded by ``t`` holds, once founded, at least one untreated
        cell and no fewer than at ``previous``, times a survival factor no smaller than
        at ``t``: at least :math:`S_i(t) \max(1, U_i(\text{previous}))` cells. Lesions
        whose bound is at least one cell (with :data:`BOUND_MARGIN`) cannot be
        eradicated here; the others are evaluated on the grid in the same blocks of
        times as :meth:`advance`, element by element as there, so the same lesions are
        eradicated on the same days. The primary is always evaluated (removed, it holds
        0 cells).
        """
        head = self._founded_by(live, t)
        if head.size == 0:
            return
        lower = self._survival_at(t)[head]
        if self._then is not None and self._then[0] == previous:
            lower = lower * np.maximum(self._then[1][head], 1.0)
        maybe = lower < 1.0 + BOUND_MARGIN
        maybe[0] |= head[0] == 0
        ids = head[maybe]
        for start in range(0, len(times) if ids.size else 0, chunk):
            block = times[start:start + chunk]
            cells = self.untreated(block, ids) * self.therapy.survival(block[:, None], ids)
            self._eradicate(block, cells, ids)

    def _check_matrix(self, live: NDArray[np.int64]) -> FloatArray:
        """(live lesions, checks) 0/1: which lesions count towards each lethal check."""
        if self._checks_for is None or self._checks_for[0] is not live:
            matrix = np.stack([mask[live] for _, mask, _ in self.checks], axis=1)
            self._checks_for = (live, matrix.astype(float))
        return self._checks_for[1]

    def _eradicate(self, times: FloatArray, cells: FloatArray,
                   live: NDArray[np.int64]) -> FloatArray:
        """Mark live lesions that fell below one cell after founding; zero them from then."""
        below = (cells < 1.0) & (times[:, None] >= self.founded[live])
        hit = below.any(axis=0)
        if hit.any():
            first = np.argmax(below[:, hit], axis=0)
            self.eradicated[live[hit]] = times[first]
            self.changed()
            cells = np.where(times[:, None] < self.eradicated[live], cells, 0.0)
        return cells

    def _settle(self, previous: float, t: float) -> None:
        """Decide which colonies founded in (previous, t] the treated patient has."""
        new = np.nonzero((self.founded > previous) & (self.founded <= t))[0]
        history = self.therapy
        if new.size == 0 or not history.periods:
            return
        history.meet(new, np.ones(new.size))  # a founder is one cell
        parents = self.parent[new]
        has_parent = parents >= 0
        q = np.full(new.size, history.shedding_factor() * history.ctc_survival())
        safe = np.where(has_parent, parents, 0)
        ratio = history.survival(self.founded[new], safe)  # parent at founding
        q = np.where(has_parent, q * ratio * (self.eradicated[safe] > self.founded[new]), q)
        draw = q < 1.0
        keep = np.ones(new.size, dtype=bool)
        keep[draw] = self.rng.random(int(draw.sum())) < q[draw]
        self.kept[new] = keep
        self.changed()
        # A dropped or prevented parent takes its descendants with it (ids grow with time).
        while True:
            inherited = self.kept[new] & np.where(has_parent, self.kept[safe], True)
            if np.array_equal(inherited, self.kept[new]):
                break
            self.kept[new] = inherited
