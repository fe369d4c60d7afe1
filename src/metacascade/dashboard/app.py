"""The dashboard page: controls, a worker thread, and the panes that show a run.

:func:`create_app` builds one page (a server calls it once per browser session). The
Run button reads the controls into :class:`~metacascade.dashboard.runs.Inputs`,
checks them at once (a bad value shows its message in the alert pane and nothing runs)
and runs the model in a worker thread; the worker renders the figures and hands the
results back to the page's event loop. Cancel stops a cohort before its next patient;
a single patient takes well under a second, so cancelling one discards its result.

Elements tests look for carry stable ids: ``mc-status`` (``data-state`` idle, running,
done, error or cancelled; ``data-run`` the run's number), ``mc-alert-message`` (the
text of a refusal), ``mc-num-<key>`` per number of
:func:`~metacascade.dashboard.runs.key_numbers` (``data-value`` the exact value),
``mc-day`` (``data-day``, ``data-lesions``, ``data-detected`` of the body map),
``mc-cohort-<key>`` per number of :func:`~metacascade.dashboard.runs.cohort_numbers`
and ``mc-organ-table``. Widgets and figure panes carry CSS classes ``mc-<name>``
(``mc-cancer``, ``mc-run``, ``mc-body-map``, ``mc-ctc`` ...).
"""

from __future__ import annotations

import html
import logging
import math
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import panel as pn
from bokeh.document import Document
from panel.io.state import set_curdoc
from panel.viewable import Viewable

from metacascade.dashboard import figures
from metacascade.dashboard.runs import (
    MAX_PATIENTS,
    THERAPIES,
    CohortRun,
    Inputs,
    PatientRun,
    RunCancelled,
    build_scenario,
    cancer_names,
    cohort_numbers,
    compatible_bodies,
    day_label,
    key_numbers,
    lesions_at,
    organ_table,
    run_cohort,
    run_patient,
)
from metacascade.errors import MetacascadeError

LOG = logging.getLogger(__name__)

#: Labels of the key numbers, in display order.
PATIENT_LABELS = {
    "colonies": "colonies founded", "macrometastases": "macrometastases at the end",
    "metastases_detected": "metastases detected", "m1_day": "stage M1 from",
    "last_ctc": "CTC at the last draw", "last_draw_day": "last draw",
    "death_day": "death", "therapy_lines": "lines of therapy", "seed": "seed",
}
COHORT_LABELS = {
    "patients": "patients", "enrolled": "enrolled (time origin reached)",
    "unfavourable": "unfavourable baseline CTC", "deaths": "deaths",
    "median_os_days": "median overall survival",
}
_DAYS = ("m1_day", "last_draw_day", "death_day", "median_os_days")
_CSS = """
.mc-numbers {display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
             gap: 6px; font-family: sans-serif;}
.mc-number {border: 1px solid #ddd; border-radius: 4px; padding: 4px 8px;}
.mc-label {display: block; font-size: 11px; color: #666;}
.mc-value {font-size: 17px; font-weight: 600;}
table.mc-table {border-collapse: collapse; font: 13px sans-serif;}
table.mc-table td, table.mc-table th {border-bottom: 1px solid #ddd; padding: 2px 8px;}
"""


def numbers_html(numbers: dict[str, Any], labels: dict[str, str], prefix: str) -> str:
    """HTML of key numbers: one ``mc-number`` box per key, the value in ``data-value``."""
    boxes = []
    for key, label in labels.items():
        value = numbers.get(key)
        if key in _DAYS:
            text = day_label(value)
        elif value is None:
            text = "\u2014"
        else:
            text = f"{value:,}" if isinstance(value, int) else str(value)
        raw = "" if value is None else str(value)
        boxes.append(f'<div class="mc-number" id="{prefix}{key}" data-value="{html.escape(raw)}">'
                     f'<span class="mc-label">{html.escape(label)}</span>'
                     f'<span class="mc-value">{html.escape(text)}</span></div>')
    return f'<div class="mc-numbers">{"".join(boxes)}</div>'


class Dashboard:
    """One page: the controls, the output panes and the run in progress."""

    def __init__(self) -> None:
        cancers = list(cancer_names())
        self.cancer = pn.widgets.Select(label="Cancer", options=cancers, value=cancers[0],
                                        css_classes=["mc-cancer"])
        self.body = pn.widgets.Select(label="Body", options=compatible_bodies(cancers[0]),
                                      css_classes=["mc-body"])
        self.therapy = pn.widgets.Select(label="Therapy (from stage M1)",
                                         options=list(THERAPIES), value="none",
                                         css_classes=["mc-therapy"])
        self.seed = pn.widgets.IntInput(label="Seed", value=1, css_classes=["mc-seed"])
        self.horizon = pn.widgets.FloatInput(label="Horizon (years)", value=10.0, step=1.0,
                                             css_classes=["mc-horizon"])
        self.mode = pn.widgets.RadioButtonGroup(
            label="Mode", options={"single patient": "patient", "cohort": "cohort"},
            value="patient", css_classes=["mc-mode"])
        self.patients = pn.widgets.IntInput(label=f"Patients (cohort, 1-{MAX_PATIENTS})",
                                            value=20, css_classes=["mc-patients"])
        self.run_button = pn.widgets.Button(label="Run", color="primary",
                                            css_classes=["mc-run"])
        self.cancel_button = pn.widgets.Button(label="Cancel", color="warning",
                                               disabled=True, css_classes=["mc-cancel"])
        self.progress = pn.indicators.Progress(value=0, max=1, active=False, width=260,
                                               visible=False, css_classes=["mc-progress"])
        self.status = pn.pane.HTML(_status("idle", 0, "press Run"), css_classes=["mc-status"])
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False,
                                   css_classes=["mc-alert"])
        self.numbers = pn.pane.HTML("", stylesheets=[_CSS], sizing_mode="stretch_width")
        self.day = pn.widgets.IntSlider(label="Day of the body map", start=0, end=1, value=0,
                                        step=1, width=460, disabled=True,
                                        css_classes=["mc-day-slider"])
        self.day_caption = pn.pane.HTML(_day_html(None, None), css_classes=["mc-day"])
        self.body_map = pn.pane.PNG(None, width=460, css_classes=["mc-body-map"])
        self.ctc = pn.pane.PNG(None, width=620, css_classes=["mc-ctc"])
        self.funnel = pn.pane.PNG(None, width=900, css_classes=["mc-funnel"])
        self.cohort_numbers = pn.pane.HTML("run a cohort (Mode: cohort) to see its survival",
                                           stylesheets=[_CSS], sizing_mode="stretch_width")
        self.survival = pn.pane.PNG(None, width=880, css_classes=["mc-survival"])
        self.organs = pn.pane.HTML("", stylesheets=[_CSS], css_classes=["mc-organs"])
        self.tabs = pn.Tabs(
            ("Patient", pn.Column(self.numbers, pn.Row(
                pn.Column(self.day, self.day_caption, self.body_map),
                pn.Column(self.ctc, self.funnel)))),
            ("Cohort", pn.Column(self.cohort_numbers, self.survival, self.organs)),
            dynamic=False)
        self.run: PatientRun | None = None
        self._run_id = 0
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = False  # a run is under way (a dropped single run is not)
        self._cohort = False  # the run under way is a cohort
        self.cancer.param.watch(self._on_cancer, "value")
        self.day.param.watch(self._on_day, "value_throttled")
        self.run_button.on_click(self._on_run)
        self.cancel_button.on_click(self._on_cancel)

    def layout(self) -> Viewable:
        """The page: controls on the left, the alert and the results on the right."""
        controls = pn.Column(
            pn.pane.Markdown("## metacascade\nhematogenous metastasis, one patient or a "
                             "small cohort"),
            self.cancer, self.body, self.therapy, self.seed, self.horizon, self.mode,
            self.patients, pn.Row(self.run_button, self.cancel_button), self.progress,
            self.status, width=300)
        return pn.Row(controls, pn.Column(self.alert, self.tabs), css_classes=["mc-app"])

    # -- controls --------------------------------------------------------------------
    def inputs(self) -> Inputs:
        """The controls' values."""
        return Inputs(cancer=str(self.cancer.value), body=self.body.value or None,
                      therapy=str(self.therapy.value), seed=_int(self.seed.value),
                      horizon_years=_float(self.horizon.value), mode=self.mode.value,
                      patients=_int(self.patients.value))

    def _on_run(self, event: Any) -> None:
        self.start(self.inputs())

    def _on_cancel(self, event: Any) -> None:
        self.cancel()

    def _on_cancer(self, event: Any) -> None:
        bodies = compatible_bodies(event.new)
        self.body.options = bodies
        self.body.value = bodies[0]

    # -- running ---------------------------------------------------------------------
    def start(self, inputs: Inputs) -> bool:
        """Check ``inputs`` and start a run in a worker thread; False if refused."""
        if self._busy:
            return False
        try:
            build_scenario(inputs)
        except MetacascadeError as error:
            self._show_error(self._run_id, str(error))
            return False
        self._run_id += 1
        self._busy = True
        self._cancel = threading.Event()
        self.alert.visible = False
        self.run_button.disabled, self.cancel_button.disabled = True, False
        cohort = self._cohort = inputs.mode == "cohort"
        self.progress.max = inputs.patients if cohort else 1
        self.progress.value, self.progress.active = (0 if cohort else -1), True
        self.progress.visible = True
        what = f"{inputs.patients} patients" if cohort else "one patient"
        self.status.object = _status("running", self._run_id, f"running {what}...")
        self._thread = threading.Thread(
            target=self._work, args=(inputs, self._run_id, self._cancel, pn.state.curdoc),
            name=f"metacascade-dashboard-{self._run_id}", daemon=True)
        self._thread.start()
        return True

    def cancel(self) -> None:
        """Stop the run: a cohort before its next patient; a single patient's result is dropped."""
        self._cancel.set()
        if not self._busy:
            return
        if self._cohort:
            self.status.object = _status("running", self._run_id,
                                         "cancelling after the current patient...")
            return
        self._cancelled(self._run_id, "cancelled; the result was discarded")
        self._run_id += 1  # the worker's result is for an older run: dropped

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the worker thread (tests and scripts)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _work(self, inputs: Inputs, run_id: int, cancel: threading.Event,
              doc: Document | None) -> None:
        """The worker: run, render, and hand the result to the page's event loop."""
        done: Callable[[], None]
        try:
            if inputs.mode == "cohort":
                report = partial(self._later, doc)
                cohort = run_cohort(inputs, cancel=cancel, progress=lambda k, n: report(
                    partial(self._progressed, run_id, k)))
                done = partial(self._show_cohort, run_id, inputs, cohort_numbers(cohort),
                               figures.survival_png(cohort), _organs_html(cohort))
            else:
                run = run_patient(inputs)
                images = (figures.body_png(run, _last_day(run)), figures.ctc_png(run),
                          figures.funnel_png(run))
                done = partial(self._show_patient, run_id, run, key_numbers(run),
                               _day_html(run, _last_day(run)), *images)
        except RunCancelled as error:
            done = partial(self._cancelled, run_id, str(error))
        except MetacascadeError as error:
            done = partial(self._show_error, run_id, str(error))
        except Exception as error:  # the page shows a message, the log the traceback
            LOG.exception("dashboard run %d failed", run_id)
            done = partial(self._show_error, run_id,
                           f"unexpected error ({type(error).__name__}): {error}")
        self._later(doc, done)

    @staticmethod
    def _later(doc: Document | None, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the page's event loop (at once without a server)."""
        if doc is None or doc.session_context is None:
            callback()
            return

        def in_document() -> None:
            with set_curdoc(doc):
                callback()

        doc.add_next_tick_callback(in_document)

    # -- showing ---------------------------------------------------------------------
    def _finish(self, state: str, run_id: int, message: str) -> None:
        self.status.object = _status(state, run_id, message)
        self._busy = False
        self.progress.param.update(active=False, visible=False, value=0)
        self.run_button.disabled, self.cancel_button.disabled = False, True

    def _progressed(self, run_id: int, done: int) -> None:
        if run_id == self._run_id:
            self.progress.value = done
            self.status.object = _status("running", run_id, f"patient {done} of "
                                         f"{self.progress.max} done")

    def _show_patient(self, run_id: int, run: PatientRun, numbers: dict[str, Any],
                      caption: str, body: bytes, ctc: bytes, funnel: bytes) -> None:
        if run_id != self._run_id:
            return
        self.run = run
        self.numbers.object = numbers_html(numbers, PATIENT_LABELS, "mc-num-")
        last = int(_last_day(run))
        self.day.param.update(end=max(last, 1), value=last, disabled=False)
        self.body_map.object, self.ctc.object, self.funnel.object = body, ctc, funnel
        self.day_caption.object = caption
        self.tabs.active = 0
        self._finish("done", run_id, f"{run.scenario.cancer}, seed {numbers['seed']}: done")

    def _show_cohort(self, run_id: int, inputs: Inputs, numbers: dict[str, Any],
                     survival: bytes, organs: str) -> None:
        if run_id != self._run_id:
            return
        self.cohort_numbers.object = numbers_html(numbers, COHORT_LABELS, "mc-cohort-")
        self.survival.object = survival
        self.organs.object = organs
        self.tabs.active = 1
        self._finish("done", run_id, f"{numbers['patients']} patients of {inputs.cancer}: "
                     "done")

    def _show_error(self, run_id: int, message: str) -> None:
        if run_id != self._run_id:
            return
        self.alert.object = _alert_html(message)
        self.alert.visible = True
        self._finish("error", run_id, "refused: see the message")

    def _cancelled(self, run_id: int, message: str) -> None:
        if run_id == self._run_id:
            self._finish("cancelled", run_id, message)

    def _on_day(self, event: Any) -> None:
        run = self.run
        if run is None or event.new is None:
            return
        day = min(float(event.new), run.end_day)
        try:
            self.body_map.object = figures.body_png(run, day)
            self.day_caption.object = _day_html(run, day)
        except Exception as error:  # a message in the page, the traceback in the log
            LOG.exception("dashboard body map at day %s failed", day)
            self.alert.object = _alert_html(f"body map at day {day:g}: {error}")
            self.alert.visible = True


def _last_day(run: PatientRun) -> float:
    """The last whole day of follow-up: where the time slider starts."""
    return float(math.floor(run.end_day))


def _alert_html(message: str) -> str:
    return f'<div id="mc-alert-message">{html.escape(message)}</div>'


def _organs_html(cohort: CohortRun) -> str:
    """The organ involvement table (:func:`organ_table`) as HTML, shares in percent."""
    table = organ_table(cohort).to_html(
        index=False, table_id="mc-organ-table", classes="mc-table", na_rep="\u2014",
        float_format=lambda v: f"{v:.0%}")
    return f"<h4>organs involved</h4>{table}"


def _status(state: str, run_id: int, message: str) -> str:
    return (f'<span id="mc-status" data-state="{state}" data-run="{run_id}">'
            f"{html.escape(message)}</span>")


def _day_html(run: PatientRun | None, day: float | None) -> str:
    if run is None or day is None:
        return '<span id="mc-day" data-day="" data-lesions="" data-detected="">no run yet</span>'
    lesions = lesions_at(run, day)
    found = int(lesions["detected"].sum())
    return (f'<span id="mc-day" data-day="{day:g}" data-lesions="{len(lesions)}" '
            f'data-detected="{found}">{html.escape(day_label(day))}: {len(lesions):,} '
            f"lesions of at least 0.2 mm, {found:,} found by then</span>")


def _int(value: Any) -> int:
    """A whole number from a widget (None stays an invalid -1, refused with the field)."""
    return -1 if value is None else int(value)


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def create_app() -> Viewable:
    """A new dashboard page (one per browser session)."""
    return Dashboard().layout()
