"""Published targets a calibration fits: organ involvement at autopsy.

A :class:`Targets` holds, per primary (a catalog cancer) and target organ (a diSibio &
French column), the autopsies behind the row and the number with metastases in that
organ. :func:`load_targets` builds a named set from the package's data; today there is
one, ``"disibio2008"`` (:mod:`metacascade.calibration.targets.disibio2008`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metacascade.errors import MetacascadeError


class CalibrationError(MetacascadeError):
    """Bad calibration input: unknown targets, parameters or priors."""


@dataclass(frozen=True, eq=False)
class Targets:
    """Organ involvement at autopsy, per primary and organ.

    Attributes
    ----------
    name
        Identifier of the set (``"disibio2008"``).
    source
        Where the numbers come from (paper, table).
    cancers
        Catalog cancer names, one per row.
    rows
        The source's name of each row (``"skin body"`` for melanoma).
    organs
        Target organs (the source's column names).
    beds
        Target organ -> the body-catalog beds it covers (``bone`` is both marrow beds).
    n_autopsies
        Autopsies behind each row.
    counts
        (cancers, organs) autopsies with the organ involved; masked (-1) where the organ
        holds the primary: the model does not count a colony in the primary's own organ
        as a metastasis (it is not told apart from the primary), although the source
        counts metastases there for paired or diffuse organs (diSibio & French: lung
        in 48 of 163 lung primaries).

    """

    name: str
    source: str
    cancers: tuple[str, ...]
    rows: tuple[str, ...]
    organs: tuple[str, ...]
    beds: Mapping[str, tuple[str, ...]]
    n_autopsies: NDArray[np.int64]
    counts: NDArray[np.int64]

    @property
    def mask(self) -> NDArray[np.bool_]:
        """(cancers, organs): True where a count is compared."""
        return np.asarray(self.counts >= 0)

    @property
    def shares(self) -> NDArray[np.float64]:
        """(cancers, organs) observed share of autopsies with the organ involved (NaN masked)."""
        shares = self.counts / self.n_autopsies[:, None]
        return np.asarray(np.where(self.mask, shares, np.nan), dtype=float)

    def subset(self, cancers: tuple[str, ...] | list[str]) -> Targets:
        """The same targets for some of the primaries only."""
        given: object = cancers
        if isinstance(given, str):  # (its letters would be the primaries)
            cancers = [given]
        unknown = [c for c in cancers if c not in self.cancers]
        if unknown:
            raise CalibrationError(f"targets {self.name!r} have no primary {unknown}; "
                                   f"they have {', '.join(self.cancers)}")
        idx = [self.cancers.index(c) for c in cancers]
        return Targets(self.name, self.source, tuple(cancers),
                       tuple(self.rows[i] for i in idx), self.organs, self.beds,
                       self.n_autopsies[idx], self.counts[idx])

    def only(self, cancer: str, organ: str) -> Targets:
        """One primary and one organ (the other organs masked)."""
        sub = self.subset([cancer])
        if organ not in self.organs:
            raise CalibrationError(f"targets {self.name!r} have no organ {organ!r}; they "
                                   f"have {', '.join(self.organs)}")
        counts = np.full_like(sub.counts, -1)
        j = self.organs.index(organ)
        counts[0, j] = sub.counts[0, j]
        return Targets(self.name, self.source, sub.cancers, sub.rows, self.organs,
                       self.beds, sub.n_autopsies, counts)

    def with_counts(self, counts: NDArray[np.int64], name: str) -> Targets:
        """The same layout with other counts (synthetic targets)."""
        counts = np.where(self.mask, counts, -1)
        return Targets(name, f"synthetic, made by metacascade ({name})", self.cancers,
                       self.rows, self.organs, self.beds, self.n_autopsies, counts)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for tasks sent to other processes)."""
        return {"name": self.name, "source": self.source, "cancers": list(self.cancers),
                "rows": list(self.rows), "organs": list(self.organs),
                "beds": {k: list(v) for k, v in self.beds.items()},
                "n_autopsies": self.n_autopsies.tolist(), "counts": self.counts.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Targets:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["name"]), str(data["source"]), tuple(data["cancers"]),
                   tuple(data["rows"]), tuple(data["organs"]),
                   {k: tuple(v) for k, v in data["beds"].items()},
                   np.asarray(data["n_autopsies"], dtype=np.int64),
                   np.asarray(data["counts"], dtype=np.int64))

    def table(self) -> pd.DataFrame:
        """Long table: cancer, row, organ, n_autopsies, count, share (compared cells only)."""
        records = [
            {"cancer": c, "row": r, "organ": o, "n_autopsies": int(self.n_autopsies[i]),
             "count": int(self.counts[i, j]), "share": float(self.shares[i, j])}
            for i, (c, r) in enumerate(zip(self.cancers, self.rows, strict=True))
            for j, o in enumerate(self.organs) if self.mask[i, j]
        ]
        return pd.DataFrame.from_records(records)


def load_targets(name: str = "disibio2008") -> Targets:
    """A packaged set of targets by name (``"disibio2008"``)."""
    from metacascade.calibration.targets import disibio2008

    known = {"disibio2008": disibio2008.targets}
    if name not in known:
        raise CalibrationError(f"targets: unknown set {name!r}; known: {', '.join(known)}")
    return known[name]()
