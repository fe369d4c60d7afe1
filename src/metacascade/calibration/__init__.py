"""Fitting the model's unknowns to published autopsy data (ABC-SMC with pyABC).

* :mod:`~metacascade.calibration.targets`: packaged targets (diSibio & French 2008);
* :mod:`~metacascade.calibration.forward`: expected involvement at autopsy in closed form;
* :mod:`~metacascade.calibration.model`: parameters -> involvement shares;
* :mod:`~metacascade.calibration.estimator`: :class:`Calibration` (pyABC back-end, the
  ``calibration`` extra);
* :mod:`~metacascade.calibration.fit`: the whole diSibio fit, its checks and outputs.
"""

from metacascade.calibration.estimator import Calibration
from metacascade.calibration.model import AUTOPSY_YEARS, Autopsy, AutopsyModel, parameter_names
from metacascade.calibration.targets import CalibrationError, Targets, load_targets

__all__ = ["AUTOPSY_YEARS", "Autopsy", "AutopsyModel", "Calibration", "CalibrationError",
           "Targets", "load_targets", "parameter_names"]
