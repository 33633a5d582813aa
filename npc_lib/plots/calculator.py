"""The nomogram calculator page (A22): an HTML form that computes a patient's points and DFS itself.

The model document of ``nomogram.json`` (:func:`npc_lib.stats.nomogram_export.nomogram_model`)
is embedded in the page as strict JSON, so the page works opened from
``file://`` with no network and no fetch. The form asks for the clinical
variables as a clinician knows them (``sex`` M/F, ``ebv_dna`` in copy/mL,
``hgb`` in g/L, signature scores; a threshold variable also takes its printed
class, ``< 4000``) and codes them with the file's ``coding``;
a variable left empty is an error naming it, unless "use the model's
adjust-to value" is ticked (then each filled variable is named). The
arithmetic is that of :class:`~npc_lib.stats.nomogram_export.NomogramCalculator`
(same order of operations; agreement to 1e-9 is checked in a real browser
by ``tests/test_calculator_page.py``).

Machine-readable outputs for tests and scripts: each predictor's points in
``[data-covariate=<name>] .npc-points``, the total in ``.npc-total`` and the
survival at each time in ``.npc-survival[data-time=<t>]``, each with the
full-precision number in its ``data-value`` attribute (empty when the form is
incomplete); messages in ``.npc-status``.
"""

from __future__ import annotations

__all__ = ["calculator_html", "save_calculator", "show_calculator"]

import hashlib
import html
import json
from pathlib import Path
from typing import Mapping

from .._io import atomic_path
from ..coding import NUMBER_PATTERN
from ..stats.nomogram_export import NomogramCalculator


def _check_model(model) -> tuple[dict, NomogramCalculator]:
    if not isinstance(model, Mapping):
        raise ValueError(f"model must be a model document (dict), got {type(model).__name__}")
    calc = NomogramCalculator.from_model(model)
    try:
        json.dumps(model, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"model: not strict JSON ({exc}): write null, not NaN") from None
    return {**model, "coding": dict(calc.coding)}, calc


def _check_values(values, calc: NomogramCalculator) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ValueError("values must be a mapping variable -> value")
    names = [v["variable"] for v in calc.variables]
    unknown = [k for k in values if k not in names and k not in calc.other_variables]
    if unknown:
        raise ValueError(f"values: unknown variable(s) {unknown} (the model uses {names})")
    return {k: str(v) for k, v in values.items() if k in names and v is not None}


def _script_json(obj) -> str:
    """Strict JSON safe inside a ``<script>`` element (no ``</script>`` can occur)."""
    text = json.dumps(obj, sort_keys=True, allow_nan=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


_CSS = """
.npc-calc{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:46rem;border:1px solid #ccd;
 border-radius:6px;padding:0.8rem 1rem;margin:1rem 0;background:#fbfbfd}
.npc-calc h3{margin:0 0 0.6rem 0;font-size:1.1rem}
.npc-calc table{border-collapse:collapse;width:100%}
.npc-calc td,.npc-calc th{padding:0.25rem 0.4rem;border-bottom:1px solid #e3e3ea;text-align:left;vertical-align:middle}
.npc-calc td.npc-num,.npc-calc th.npc-num{text-align:right;font-variant-numeric:tabular-nums}
.npc-calc input[type=text],.npc-calc select{width:9rem;padding:0.15rem 0.3rem}
.npc-calc .npc-unit{color:#667;font-size:0.85rem;margin-left:0.3rem}
.npc-calc .npc-status{margin-top:0.6rem;font-size:0.9rem}
.npc-calc .npc-error{color:#b00020}
.npc-calc .npc-note{color:#555}
.npc-calc .npc-result td{font-weight:600}
.npc-calc .npc-formula{color:#667;font-size:0.8rem;margin-top:0.5rem}
"""

_JS = r"""
(function () {
  "use strict";
  var root = document.getElementById(%(uid)s);
  var model = JSON.parse(root.querySelector("script.npc-model").textContent);
  var covs = model.covariates, coding = model.coding, vars = [], byVar = {};
  covs.forEach(function (c) {
    var r = coding[c];
    if (!byVar[r.variable]) {
      byVar[r.variable] = {name: r.variable, rule: r, covariates: []};
      vars.push(byVar[r.variable]);
    }
    byVar[r.variable].covariates.push(c);
  });
  var fill = root.querySelector(".npc-fill"), status = root.querySelector(".npc-status");
  var NUMBER = new RegExp("^(?:" + %(number)s + ")$");
  function g6(x) { return String(Number(x.toPrecision(6))); }
  function describe(r, x) {
    var unit = r.unit ? " " + r.unit : "";
    if (r.kind === "level") {
      if (x === 1) return r.level;
      var others = r.levels.filter(function (v) { return v !== r.level; });
      return others.length === 1 ? others[0] : "not " + r.level;
    }
    if (r.kind === "threshold") return (x === 1 ? r.op : (r.op === ">=" ? "<" : "<=")) + " " + String(r.cut) + unit;
    return g6(x) + unit;
  }
  function parse(r, raw) {  // a number, or a threshold's printed class ("< 4000" gives "<")
    if (r.kind === "threshold") {
      var t = raw.replace(/\s+/g, "").replace("\u2265", ">=").replace("\u2264", "<=");
      var prefixes = [r.op, r.op === ">=" ? "<" : "<="];
      for (var i = 0; i < prefixes.length; i++) {
        var p = prefixes[i];
        if (t.indexOf(p) === 0 && t.charAt(p.length) !== "=") {
          if (number(t.slice(p.length)) === r.cut) return p;
          break;
        }
      }
    }
    return number(raw);
  }
  function number(text) {  // npc_lib.coding.NUMBER_PATTERN, as the Python calculator reads numbers
    text = text.trim();
    return NUMBER.test(text) ? Number(text) : NaN;
  }
  function cumhaz(t) {  // the baseline's right-continuous step function at t
    var step = model.baseline_cumhazard_at_center, h = 0;
    for (var i = 0; i < step.times.length && step.times[i] <= t; i++) h = step.cumhaz[i];
    return h;
  }
  function code(r, raw) {
    if (r.kind === "level") return raw === r.level ? 1 : 0;
    var x = parse(r, raw);
    if (r.kind === "threshold") {
      if (typeof x === "string") return x === r.op ? 1 : 0;
      return (r.op === ">" ? x > r.cut : x >= r.cut) ? 1 : 0;
    }
    return x;
  }
  function setOut(el, value, text) {
    el.setAttribute("data-value", value === null ? "" : String(value));
    el.textContent = text;
  }
  function clear() {
    root.querySelectorAll(".npc-points,.npc-coded,.npc-total,.npc-survival").forEach(function (el) { setOut(el, null, "-"); });
  }
  function message(errors, notes) {
    status.innerHTML = "";
    errors.concat(notes).forEach(function (text, i) {
      var p = document.createElement("div");
      p.className = i < errors.length ? "npc-error" : "npc-note";
      p.textContent = text;
      status.appendChild(p);
    });
  }
  function compute() {
    var missing = [], bad = [], filled = [], x = {};
    vars.forEach(function (v) {
      var el = root.querySelector('[data-variable="' + v.name + '"]'), raw = el.value.trim();
      if (raw === "") {
        if (!fill.checked) { missing.push(v.name); return; }
        filled.push(v.name + " = " + v.covariates.map(function (c) {
          x[c] = model.adjust_to[c]; return describe(coding[c], x[c]); }).join(", "));
        return;
      }
      var parsed = v.rule.kind === "level" ? raw : parse(v.rule, raw);
      if (typeof parsed === "number" && !isFinite(parsed)) { bad.push(v.name + " (" + raw + ")"); return; }
      v.covariates.forEach(function (c) { x[c] = code(coding[c], raw); });
    });
    var errors = [];
    if (missing.length) {
      errors.push("Missing: " + missing.join(", ") + " (give a value, or tick \u201cuse the model's adjust-to value\u201d)");
    }
    if (bad.length) errors.push("Not a number: " + bad.join(", "));
    if (errors.length) { clear(); message(errors, []); return; }
    var total = 0, outside = [];
    covs.forEach(function (c) {
      var p = model.scale * (model.beta[c] * x[c] - model.xbeta_min[c]);
      total += p;
      var row = root.querySelector('tr[data-covariate="' + c + '"]');
      setOut(row.querySelector(".npc-points"), p, p.toFixed(1));
      setOut(row.querySelector(".npc-coded"), x[c], describe(coding[c], x[c]));
      var rg = model.axis_range && model.axis_range[c];
      if (rg && !(rg[0] <= x[c] && x[c] <= rg[1])) outside.push(model.labels[c] || c);
    });
    var lp = model.intercept + total / model.scale;
    setOut(root.querySelector(".npc-total"), total, total.toFixed(1));
    root.querySelectorAll(".npc-survival").forEach(function (el) {
      var s = Math.exp(-cumhaz(Number(el.getAttribute("data-time"))) * Math.exp(lp));
      setOut(el, s, (100 * s).toFixed(1) + " %%");
    });
    var notes = filled.map(function (f) { return "Not given, set to the model's adjust-to value: " + f; });
    if (outside.length) notes.push("Outside the nomogram's axis (points extrapolated): " + outside.join(", "));
    message([], notes);
  }
  root.querySelectorAll("input,select").forEach(function (el) {
    el.addEventListener("input", compute); el.addEventListener("change", compute);
  });
  compute();
})();
"""


def _time_label(t: float, unit: str) -> str:
    tf = float(t)
    if unit == "months" and tf % 12 == 0:
        return f"{tf / 12:g}-year DFS ({tf:g} months)"
    return f"DFS at {tf:g} {unit}"


def _fragment(model: dict, calc: NomogramCalculator, values: dict[str, str], uid: str, title: str,
              fill_missing: bool) -> str:
    e = html.escape
    rows = []
    for v in calc.variables:
        name, given = v["variable"], values.get(v["variable"], "")
        if v["kind"] == "level":
            opts = ['<option value="">-</option>'] + [
                f'<option value="{e(lv)}"{" selected" if given.lower() == lv.lower() else ""}>'
                f'{e(v["level_labels"].get(lv, lv))}{"" if v["level_labels"].get(lv, lv) == lv else f" ({e(lv)})"}'
                '</option>' for lv in v["levels"]]
            field = f'<select id="{uid}-{e(name)}" data-variable="{e(name)}">{"".join(opts)}</select>'
        else:
            field = (f'<input type="text" inputmode="decimal" id="{uid}-{e(name)}" data-variable="{e(name)}" '
                     f'value="{e(given)}" autocomplete="off">')
        unit = f'<span class="npc-unit">{e(v["unit"])}</span>' if v["unit"] else ""
        rows.append(f'<tr><td><label for="{uid}-{e(name)}">{e(v["label"])}</label></td><td>{field}{unit}</td></tr>')
    labels = model.get("labels") or {}
    points = "".join(
        f'<tr data-covariate="{e(c)}"><td>{e(labels.get(c, c))}</td><td class="npc-coded" data-value=""></td>'
        f'<td class="npc-num npc-points" data-value="">-</td></tr>' for c in calc.covariates)
    unit = str(model.get("time_unit", "months"))
    surv = "".join(
        f'<tr class="npc-result"><td colspan="2">{e(_time_label(t, unit))}</td>'
        f'<td class="npc-num npc-survival" data-time="{t!r}" data-value="">-</td></tr>'
        for t in calc.times)
    name = f" ({e(model['name'])})" if model.get("name") else ""
    update = calc.update or {}
    origin = (f'<p class="npc-note npc-provenance">{e(update["kind"])} update of {e(calc.parent["name"])}: '
              + e(", ".join(f"{k} {v}" for k, v in update.items() if k != "kind")) + "</p>") if update else ""
    return f"""<div class="npc-calc" id="{uid}">
<style>{_CSS}</style>
<h3>{e(title)}{name}</h3>{origin}
<form onsubmit="return false;" autocomplete="off">
<table class="npc-inputs"><tbody>{"".join(rows)}</tbody></table>
<p><label><input type="checkbox" class="npc-fill"{" checked" if fill_missing else ""}>
use the model's adjust-to value (training median or reference level) for a variable left empty</label></p>
</form>
<table class="npc-outputs"><thead><tr><th>predictor</th><th>as coded</th><th class="npc-num">points</th></tr></thead>
<tbody>{points}<tr class="npc-result"><td colspan="2">total points</td>
<td class="npc-num npc-total" data-value="">-</td></tr>
{surv}</tbody></table>
<div class="npc-status" aria-live="polite"></div>
<div class="npc-formula">points = {calc.scale:.4g} &times; (&beta;&middot;x &minus; min &beta;&middot;x) per predictor;
DFS(t) = exp(&minus;H<sub>0</sub>(t) &middot; exp(intercept + total / {calc.scale:.4g})). Computed in this page from
the embedded model file; nothing is sent anywhere.</div>
<script type="application/json" class="npc-model">{_script_json(model)}</script>
<script>{_JS % {"uid": json.dumps(uid), "number": json.dumps(NUMBER_PATTERN)}}</script>
</div>"""


def calculator_html(model: Mapping, *, values: Mapping[str, object] | None = None, fill_missing: bool = False,
                    full_page: bool = True, element_id: str | None = None,
                    title: str = "Nomogram calculator") -> str:
    """The calculator as HTML, with ``model`` embedded (works offline, from ``file://``).

    Parameters
    ----------
    model : mapping
        Model document with clinical coding (:func:`~npc_lib.stats.nomogram_export.nomogram_model`,
        or :func:`~npc_lib.stats.nomogram_export.read_nomogram_model` of a ``nomogram.json``).
    values : mapping, optional
        Clinical values to pre-fill the form with (e.g. a worked example).
    fill_missing : bool
        Tick "use the model's adjust-to value" at start (the reader can untick it).
    full_page : bool
        A standalone HTML document (True) or a ``<div>`` fragment for a notebook/book page.
    element_id : str, optional
        ``id`` of the calculator's ``<div>`` (default: from a hash of the model),
        to tell two calculators on one page apart.
    title : str

    Returns
    -------
    str
        HTML; no external resource of any kind.

    Examples
    --------
    >>> import pandas as pd
    >>> from npc_lib.stats.cox import fit_cox
    >>> from npc_lib.stats.nomogram import Nomogram
    >>> from npc_lib.stats.nomogram_export import nomogram_model
    >>> d = pd.DataFrame({"t": [5, 8, 9, 12, 15, 20, 22, 30], "e": [1, 1, 1, 0, 1, 1, 0, 1],
    ...                   "x": [2.1, 1.5, 1.9, 0.3, 1.0, 0.2, 0.8, 0.1]})
    >>> doc = nomogram_model(Nomogram.from_cox(fit_cox(d, "t", "e", ["x"]), d), times=[10],
    ...                      coding={"x": {"variable": "x", "kind": "number"}})
    >>> page = calculator_html(doc)
    >>> page.startswith("<!DOCTYPE html>"), "http" in page, 'data-variable="x"' in page
    (True, False, True)
    """
    doc, calc = _check_model(model)
    vals = _check_values(values, calc)
    uid = element_id or "npc-calc-" + hashlib.sha1(_script_json(doc).encode()).hexdigest()[:10]
    if not uid.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"element_id: letters, digits, '-' and '_' only, got {uid!r}")
    frag = _fragment(doc, calc, vals, uid, title, bool(fill_missing))
    if not full_page:
        return frag
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<link rel=\"icon\" href=\"data:,\">\n<title>{html.escape(title)}</title>\n</head>\n"
            f"<body>\n{frag}\n</body>\n</html>\n")


def save_calculator(model: Mapping, path: str | Path, **kwargs) -> Path:
    """Write the standalone calculator page (:func:`calculator_html`) to ``path``, atomically."""
    text = calculator_html(model, full_page=True, **kwargs)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def show_calculator(model: Mapping, **kwargs):
    """Notebook display of the calculator (an ``IPython.display.HTML`` fragment); returns it.

    The last expression of a cell, or ``display(show_calculator(model))``;
    in the built book the form works offline like the standalone page.
    """
    from IPython.display import HTML

    return HTML(calculator_html(model, full_page=False, **kwargs))
