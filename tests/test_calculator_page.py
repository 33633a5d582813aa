"""The calculator page: strict embedded JSON, and (marker ``browser``) the numbers it computes in chromium."""

import json
import re
import shutil

import numpy as np
import pytest
from nomogram_models import ALL_COVARIATES, SUBSET, model_doc

from npc_lib.coding import below, code_value
from npc_lib.plots.calculator import calculator_html, save_calculator, show_calculator
from npc_lib.stats.nomogram_export import NomogramCalculator
from npc_lib.stats.nomogram_prediction import NomogramPrediction

PAPER_EXAMPLE = {"age": "50", "ldh": "500", "ebv_dna": "3200", "DL_T1_sig": "0.4", "DL_T2_sig": "-0.4",
                 "DL_T1C_sig": "0"}

def rule_inputs(rule: dict) -> list[str]:
    """Inputs that exercise one coding rule: every level, a threshold's cut and both sides, its printed classes."""
    if rule["kind"] == "level":
        return list(rule["levels"])
    if rule["kind"] == "threshold":
        cut, op = rule["cut"], rule["op"]
        low = below(op)
        return [f"{cut:g}", repr(float(np.nextafter(cut, -np.inf))), repr(float(np.nextafter(cut, np.inf))),
                f"{cut + 0.01:g}", "0", f"{cut * 60:g}", f"{op} {cut:g}", f"{low} {cut:g}", f"{low}{cut:g}",
                f"{op}{cut:.1f}", (f"\u2265 {cut:g}" if op == ">=" else f"\u2264 {cut:g}"), f" {cut / 2:g} "]
    return ["0.4", "-1.25", "52", "135.5", "2e1", ".5", "+3"]


#: inputs a number field must refuse, in the page as in Python
HOSTILE = ["0x10", "1_000", "1,5", "Infinity", "nan", "1e400", "abc", "--1", "< 3000", "12o"]


def input_grid(doc: dict) -> dict[str, list[str]]:
    """Each clinical variable of a model document -> the inputs to try (from its coding rules)."""
    grid: dict[str, list[str]] = {}
    for c in doc["covariates"]:
        rule = doc["coding"][c]
        grid.setdefault(rule["variable"], rule_inputs(rule))
    return grid


def grid_rows(grid: dict[str, list[str]], n: int = 16) -> list[dict]:
    """``n`` input rows: the first take every value of each variable in turn, the rest are seeded draws."""
    rng = np.random.default_rng(0)
    names = list(grid)
    return [{v: grid[v][(i + k) % len(grid[v]) if i < n // 2 else int(rng.integers(len(grid[v])))]
             for k, v in enumerate(names)} for i in range(n)]


def embedded_model(page: str) -> dict:
    m = re.search(r'<script type="application/json" class="npc-model">(.*?)</script>', page, re.S)

    def no_constants(name):
        raise AssertionError(f"non-strict JSON constant {name}")

    return json.loads(m.group(1), parse_constant=no_constants)


@pytest.fixture(scope="module")
def docs():
    return {"all": model_doc(ALL_COVARIATES), "subset": model_doc(SUBSET)}


def test_calculator_html_embeds_the_model_as_strict_json(docs):
    page = calculator_html(docs["subset"])
    doc = embedded_model(page)
    assert doc["beta"] == docs["subset"]["beta"] and doc["coding"] == docs["subset"]["coding"]
    assert not re.search(r"https?://|\bsrc=|\bhref=\"(?!data:)|fetch\(|XMLHttpRequest|import\(", page)
    for var in ("age", "sex", "hgb", "drinking", "alb", "ldh", "ebv_dna", "DL_T1_sig"):
        assert f'data-variable="{var}"' in page
    assert 'data-variable="sex_female"' not in page and 'data-variable="crp"' not in page


def test_calculator_html_escapes_script_end(docs):
    doc = json.loads(json.dumps(docs["subset"]))
    doc["labels"]["age"] = "Age </script><script>alert(1)</script>"
    page = calculator_html(doc)
    assert page.count("</script>") == 2 and embedded_model(page)["labels"]["age"] == doc["labels"]["age"]


def test_calculator_html_rejects_bad_model(docs):
    doc = json.loads(json.dumps(docs["subset"]))
    doc["adjust_to"]["age"] = float("nan")
    with pytest.raises(ValueError, match=r"adjust_to\['age'\]: not a finite number"):
        calculator_html(doc)
    with pytest.raises(ValueError, match="format 'npc-nomogram/1' is not read"):
        calculator_html({**docs["subset"], "format": "npc-nomogram/1"})
    with pytest.raises(ValueError, match="lacks the field 'coding'"):
        calculator_html({k: v for k, v in docs["subset"].items() if k != "coding"})
    with pytest.raises(ValueError, match=r"values: unknown variable\(s\) \['agee'\]"):
        calculator_html(docs["subset"], values={"agee": 1})
    with pytest.raises(ValueError, match="element_id"):
        calculator_html(docs["subset"], element_id="a b")


def test_calculator_page_reads_an_updated_model(docs):
    from npc_lib.stats.nomogram_export import updated_nomogram_model

    doc = updated_nomogram_model(docs["subset"], kind="recalibration", slope=0.8, baseline_times=[10.0, 40.0],
                                 baseline_cumhaz=[0.02, 0.1], cohort="centre B")
    page = calculator_html(doc)
    assert embedded_model(page)["update"] == doc["update"]
    assert "recalibration update of Model_clinic+dl: cohort centre B, slope 0.8</p>" in page


def test_calculator_fragment_and_notebook_display(docs, tmp_path):
    frag = calculator_html(docs["subset"], full_page=False, element_id="calc-1", values=PAPER_EXAMPLE)
    assert frag.startswith('<div class="npc-calc" id="calc-1">') and "<html" not in frag
    assert 'data-variable="DL_T2_sig" value="-0.4"' in frag
    assert show_calculator(docs["subset"], element_id="calc-1", values=PAPER_EXAMPLE).data == frag
    path = save_calculator(docs["subset"], tmp_path / "calculator.html")
    assert path.read_text(encoding="utf-8") == calculator_html(docs["subset"])


# ---------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e .[dev])")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("no chromium on PATH (make test installs Debian's chromium where apt-get runs as root)")
    with sync_api.sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=exe, headless=True)
        except Exception as exc:  # noqa: BLE001 - any launch failure means no browser to be had
            pytest.skip(f"chromium at {exe} does not start under Playwright: {exc}")
        yield b
        b.close()


class Page:
    """One calculator page opened from file://, recording every request and script error."""

    def __init__(self, browser, path):
        self.url = path.resolve().as_uri()
        self.page = browser.new_page()
        self.requests, self.errors = [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.goto(self.url)

    def fill(self, values: dict, clear=()):
        for var, value in values.items():
            el = self.page.locator(f'[data-variable="{var}"]')
            if el.evaluate("e => e.tagName") == "SELECT":
                el.select_option(value)
            else:
                el.fill(value)
        for var in clear:
            el = self.page.locator(f'[data-variable="{var}"]')
            el.select_option("") if el.evaluate("e => e.tagName") == "SELECT" else el.fill("")

    def set_values(self, values: dict):
        """Set every field at once (one round trip; each field fires its input event as typing does)."""
        self.page.evaluate("""vals => { for (const [k, v] of Object.entries(vals)) {
            const el = document.querySelector(`[data-variable="${k}"]`);
            el.value = v; el.dispatchEvent(new Event("input", {bubbles: true})); } }""", values)

    def numbers(self) -> dict[str, float | None]:
        """Every output's data-value in one round trip: ``coded:<cov>``, ``points:<cov>``, ``total``, ``S:<t>``."""
        raw = self.page.evaluate("""() => { const out = {};
            document.querySelectorAll("tr[data-covariate]").forEach(r => {
                const c = r.getAttribute("data-covariate");
                out["coded:" + c] = r.querySelector(".npc-coded").getAttribute("data-value");
                out["points:" + c] = r.querySelector(".npc-points").getAttribute("data-value"); });
            out.total = document.querySelector(".npc-total").getAttribute("data-value");
            document.querySelectorAll(".npc-survival").forEach(
                el => { out["S:" + el.getAttribute("data-time")] = el.getAttribute("data-value"); });
            return out; }""")
        return {k: None if v == "" else float(v) for k, v in raw.items()}

    def number(self, selector: str) -> float | None:
        v = self.page.get_attribute(selector, "data-value")
        return None if v == "" else float(v)

    def result(self, calc: NomogramCalculator) -> dict:
        return {"points": {c: self.number(f'tr[data-covariate="{c}"] .npc-points') for c in calc.covariates},
                "total_points": self.number(".npc-total"),
                "survival": {t: self.number(f'.npc-survival[data-time="{t!r}"]') for t in calc.times}}

    def status(self) -> str:
        return self.page.inner_text(".npc-status")

    def close(self):
        self.page.close()
        assert self.errors == [], self.errors
        assert self.requests == [self.url], f"the page made network requests: {self.requests[1:]}"


def assert_agree(got: dict, expected: NomogramPrediction, tol: float = 1e-9):
    for c, p in expected.points.items():
        assert got["points"][c] == pytest.approx(p, rel=tol, abs=tol), c
    assert got["total_points"] == pytest.approx(expected.total_points, rel=tol, abs=tol)
    for t, s in expected.survival.items():
        assert got["survival"][t] == pytest.approx(s, rel=tol, abs=tol), t


@pytest.mark.browser
def test_page_agrees_with_calculator_on_a_grid(browser, docs, tmp_path):
    """On a grid made from the coding rules, the page codes each value as npc_lib.coding.code_value does."""
    doc = docs["all"]
    calc = NomogramCalculator.from_model(doc)
    page = Page(browser, save_calculator(doc, tmp_path / "calculator.html"))
    assert page.number(".npc-total") is None and "Missing: age, sex" in page.status()
    grid = input_grid(doc)
    rows = grid_rows(grid, n=2 * max(len(v) for v in grid.values()))
    page.fill(rows[0])  # typed, as a person does; then whole rows at once
    assert_agree(page.result(calc), calc.predict_clinical(rows[0]))
    for row in rows:
        page.set_values(row)
        got = page.numbers()
        assert page.status() == "" or "Outside" in page.status()
        for c in calc.covariates:
            rule = doc["coding"][c]
            assert got[f"coded:{c}"] == code_value(rule, row[rule["variable"]]), c
        assert_agree({"points": {c: got[f"points:{c}"] for c in calc.covariates}, "total_points": got["total"],
                      "survival": {t: got[f"S:{t!r}"] for t in calc.times}}, calc.predict_clinical(row))
    for var in ("hgb", "ebv_dna"):
        for bad in HOSTILE:
            page.set_values({**rows[0], var: bad})
            assert page.number(".npc-total") is None and f"Not a number: {var} ({bad})" in page.status(), bad
            with pytest.raises(ValueError, match=f"values: {var}: not a"):
                calc.predict_clinical({**rows[0], var: bad})
    page.close()


@pytest.mark.browser
def test_page_paper_example_fill_missing_and_errors(browser, docs, tmp_path):
    """The paper's worked example (signatures 0.4, -0.4, 0) on a model that also needs sex, HGB, ..."""
    calc = NomogramCalculator.from_model(docs["subset"])
    page = Page(browser, save_calculator(docs["subset"], tmp_path / "calculator.html", values=PAPER_EXAMPLE))
    assert page.number(".npc-total") is None
    assert "Missing: sex, hgb, drinking, alb" in page.status()
    page.page.check(".npc-fill")
    expected = calc.predict_clinical(PAPER_EXAMPLE, fill_missing=True)
    assert_agree(page.result(calc), expected)
    for var, used in expected.filled.items():
        assert f"Not given, set to the model's adjust-to value: {var} = {used}" in page.status()
    page.fill({"sex": "F", "hgb": "120", "drinking": "yes", "alb": "40"})
    assert "adjust-to value:" not in page.status()
    full = {**PAPER_EXAMPLE, "sex": "F", "hgb": "120", "drinking": "yes", "alb": "40"}
    assert_agree(page.result(calc), calc.predict_clinical(full))
    page.fill({"hgb": "12o"})
    assert "Not a number: hgb (12o)" in page.status() and page.number(".npc-total") is None
    page.fill({"hgb": "120", "DL_T1C_sig": "40"})
    assert "Outside the nomogram's axis (points extrapolated): DL_T1C_sig" in page.status()
    assert_agree(page.result(calc), calc.predict_clinical({**full, "DL_T1C_sig": "40"}))
    page.page.uncheck(".npc-fill")
    page.fill({}, clear=["sex"])
    assert "Missing: sex " in page.status()
    page.close()


@pytest.mark.browser
def test_page_fragment_inside_a_book_page(browser, docs, tmp_path):
    """Two calculators in one page (as a book chapter may hold) work independently."""
    a = calculator_html(docs["subset"], full_page=False, element_id="calc-a", values=PAPER_EXAMPLE)
    b = calculator_html(docs["all"], full_page=False, element_id="calc-b")
    path = tmp_path / "book.html"
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'></head>"
                    f"<body><h1>Chapter</h1>{a}<p>text</p>{b}</body></html>", encoding="utf-8")
    page = Page(browser, path)
    page.page.check("#calc-a .npc-fill")
    calc = NomogramCalculator.from_model(docs["subset"])
    total = float(page.page.get_attribute("#calc-a .npc-total", "data-value"))
    assert total == pytest.approx(calc.predict_clinical(PAPER_EXAMPLE, fill_missing=True).total_points, rel=1e-9)
    assert page.page.get_attribute("#calc-b .npc-total", "data-value") == ""
    page.close()


def test_grid_covers_every_rule():
    doc = model_doc(ALL_COVARIATES)
    grid = input_grid(doc)
    assert set(grid) == {r["variable"] for r in doc["coding"].values()}
    rows = grid_rows(grid, n=2 * max(len(v) for v in grid.values()))
    for var, values in grid.items():
        assert {r[var] for r in rows} == set(values), var
    coded = {v: {code_value(doc["coding"][c], x) for x in grid[v]} for c in doc["covariates"]
             for v in [doc["coding"][c]["variable"]] if doc["coding"][c]["kind"] != "number"}
    assert all(got == {0.0, 1.0} for got in coded.values()), coded
    ebv = grid["ebv_dna"]
    assert "3999.9999999999995" in ebv and "4000" in ebv and "< 4000" in ebv and "\u2265 4000" in ebv
