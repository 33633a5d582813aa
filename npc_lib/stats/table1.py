"""Table 1: baseline characteristics of the training and test cohorts (analysis A2).

Rows follow the paper's Table 1: continuous variables as "median (range)",
categorical variables (and the paper's clinical cut-offs of the laboratory
values) as "n (%)". Each variable gets one p-value comparing training and test,
chosen by the rule of the paper's footnote:

* continuous: Shapiro-Wilk in each group; if both p > ``alpha_normal`` a
  two-sample t-test, else the Wilcoxon rank-sum test. The t-test is Welch's
  (unequal variances), because that is what R's ``t.test`` does by default
  and the paper's statistics were computed in R 3.6.1. The rank-sum test
  follows R's ``wilcox.test``: exact p when both groups have fewer than 50
  values and there are no ties, otherwise the normal approximation with
  tie-corrected variance and continuity correction.
* categorical: Pearson's chi-square (with Yates' continuity correction on
  2x2 tables, as R's ``chisq.test`` default) unless a cell is small, then
  Fisher's exact test. "Small" is an expected count < 5 by default
  (``small_cell="expected"``, the textbook rule and R's warning criterion);
  ``small_cell="observed"`` uses observed counts < 5 instead. The printed
  p-values of the paper are reproduced from its counts by the observed-count
  rule only: for WHO type (expected count 4.79 in one cell) the paper prints
  the chi-square p 0.34, where Fisher gives 0.27.

The rows, their source columns, allowed categories and clinical cut-offs
are data (:data:`TABLE1_ROWS`, made of :class:`Table1Row` with
:class:`Recode`, :class:`Cut` and :class:`SexSpecificCut` rules, e.g. the
HGB cut-offs 130 g/L for men and 115 g/L for women); every function takes
``rows`` and checks ``clinical`` against them, so this module knows no
cohort layout beyond what the rows say. Format p-values for display with
:func:`npc_lib.report.format_p` (``digits=2`` as the paper's Table 1).

References
----------
Zhong L-Z et al. Radiother Oncol 2020, Table 1 and its footnotes.
"""

from __future__ import annotations

__all__ = [
    "Recode",
    "Cut",
    "SexSpecificCut",
    "Table1Row",
    "TABLE1_ROWS",
    "Comparison",
    "table1_groups",
    "compare_continuous",
    "compare_categorical",
    "table1_numbers",
    "table1",
]

from dataclasses import dataclass
from typing import Mapping, Sequence, Union

import numpy as np
import pandas as pd
from scipy import stats

_GROUPS = ("train", "test")
_SMALL_CELL_RULES = ("expected", "observed")


@dataclass(frozen=True)
class Recode:
    """A categorical row's levels from a column: ``mapping`` raw value -> printed level.

    The keys are the allowed raw values (e.g. ``{"M": "Male", "F": "Female"}``).
    """

    column: str
    mapping: Mapping[str, str]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        return df[self.column].astype(str).map(dict(self.mapping)).to_numpy(object)


@dataclass(frozen=True)
class Cut:
    """Two levels of a numeric column split at ``threshold`` (``right_closed``: ``x <= t`` is ``below``)."""

    column: str
    below: str
    above: str
    threshold: float
    right_closed: bool

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        x = df[self.column].to_numpy(float)
        low = x <= self.threshold if self.right_closed else x < self.threshold
        return np.where(low, self.below, self.above)


@dataclass(frozen=True)
class SexSpecificCut:
    """``below`` where ``column < cutoffs[sex]`` (e.g. HGB abnormal if < 130 g/L for men, < 115 for women)."""

    column: str
    sex_column: str
    cutoffs: Mapping[str, float]
    below: str
    above: str

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column, self.sex_column)

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        sex = df[self.sex_column].astype(str)
        unknown = sorted(set(sex) - set(self.cutoffs))
        if unknown:
            raise ValueError(f"clinical: field {self.sex_column}: no {self.column} cut-off for {unknown}")
        cut = sex.map(dict(self.cutoffs)).to_numpy(float)
        return np.where(df[self.column].to_numpy(float) < cut, self.below, self.above)


Rule = Union[Recode, Cut, SexSpecificCut]


@dataclass(frozen=True)
class Table1Row:
    """One variable of Table 1: continuous (``column``) or categorical (``levels`` from ``derive``).

    ``levels`` are ``(level, printed label)`` pairs in display order; ``fmt``
    formats the median and range of a continuous row.
    """

    variable: str
    label: str
    column: str | None = None
    fmt: str = "{:.1f}"
    levels: tuple[tuple[str, str], ...] = ()
    derive: Rule | None = None


_YES_NO = {"no": "No", "yes": "Yes"}

#: the rows of Table 1, in the paper's order (variable keys shared with npc_lib.paper.TABLE1)
TABLE1_ROWS: tuple[Table1Row, ...] = (
    Table1Row("age", "Age, median (range), years", column="age", fmt="{:.0f}"),
    Table1Row("sex", "Sex, No. (%)", levels=(("Male", "Male"), ("Female", "Female")),
              derive=Recode("sex", {"M": "Male", "F": "Female"})),
    Table1Row("hgb", "HGB, median (range), g/L", column="hgb", fmt="{:.1f}"),
    Table1Row("hgb_group", "HGB (abnormal if male < 130 or female < 115), No. (%)",
              levels=(("Normal", "Normal"), ("Abnormal", "Abnormal")),
              derive=SexSpecificCut("hgb", "sex", {"M": 130.0, "F": 115.0}, below="Abnormal", above="Normal")),
    Table1Row("family_history", "Family history of cancer, No. (%)", levels=(("Yes", "Yes"), ("No", "No")),
              derive=Recode("family_history", _YES_NO)),
    Table1Row("smoking", "Smoking, No. (%)", levels=(("Yes", "Yes"), ("No", "No")),
              derive=Recode("smoking", _YES_NO)),
    Table1Row("drinking", "Drinking, No. (%)", levels=(("Yes", "Yes"), ("No", "No")),
              derive=Recode("drinking", _YES_NO)),
    Table1Row("who_type", "WHO pathology type, No. (%)", levels=(("I-II", "I-II"), ("III", "III")),
              derive=Recode("who_type", {"III": "III", "I-II": "I-II"})),
    Table1Row("alb", "ALB, median (range), g/L", column="alb", fmt="{:.1f}"),
    Table1Row("alb_group", "ALB, No. (%)", levels=(("Normal", "Normal (>= 40)"), ("Abnormal", "Abnormal (< 40)")),
              derive=Cut("alb", "Abnormal", "Normal", 40.0, right_closed=False)),
    Table1Row("crp", "CRP, median (range), mg/L", column="crp", fmt="{:.2f}"),
    Table1Row("crp_group", "CRP, No. (%)", levels=(("Normal", "Normal (<= 3)"), ("Abnormal", "Abnormal (> 3)")),
              derive=Cut("crp", "Normal", "Abnormal", 3.0, right_closed=True)),
    Table1Row("ldh", "LDH, median (range), U/L", column="ldh", fmt="{:.1f}"),
    Table1Row("ldh_group", "LDH, No. (%)",
              levels=(("Normal", "Normal (<= 250)"), ("Abnormal", "Abnormal (> 250)")),
              derive=Cut("ldh", "Normal", "Abnormal", 250.0, right_closed=True)),
    Table1Row("ebv_dna", "pre-EBV DNA, median (range), copy/mL", column="ebv_dna", fmt="{:,.0f}"),
    Table1Row("ebv_dna_group", "pre-EBV DNA, No. (%)", levels=(("< 4000", "< 4000"), (">= 4000", ">= 4000")),
              derive=Cut("ebv_dna", "< 4000", ">= 4000", 4000.0, right_closed=False)),
)


def _source_columns(rows: Sequence[Table1Row]) -> tuple[list[str], dict[str, tuple[str, ...]], list[str]]:
    """Columns named by ``rows`` (row order), categorical ones with their allowed raw values,
    and the numeric ones."""
    required: list[str] = []
    categorical: dict[str, tuple[str, ...]] = {}
    numeric: list[str] = []
    for row in rows:
        cols = ((row.column,) if row.column is not None else ()) + (row.derive.columns if row.derive else ())
        required += [c for c in cols if c not in required]
        if row.column is not None:
            numeric.append(row.column)
        if isinstance(row.derive, Recode):
            categorical[row.derive.column] = tuple(row.derive.mapping)
        elif isinstance(row.derive, (Cut, SexSpecificCut)):
            numeric.append(row.derive.column)
    return required, categorical, list(dict.fromkeys(numeric))


def _check_rows(rows) -> tuple[Table1Row, ...]:
    rows = tuple(rows)
    if not rows or not all(isinstance(r, Table1Row) for r in rows):
        raise ValueError("rows must be a non-empty sequence of Table1Row")
    for r in rows:
        if (r.column is None) == (r.derive is None):
            raise ValueError(f"rows: {r.variable!r} needs exactly one of column (continuous) or derive (categorical)")
    return rows


@dataclass(frozen=True)
class Comparison:
    """Result of one training-vs-test comparison.

    Attributes
    ----------
    p_value : float
        Two-sided p-value (NaN when the variable has a single level).
    method : str
        Test used.
    normality_p : tuple of float, optional
        Shapiro-Wilk p-values (train, test) of a continuous variable; NaN
        where the test cannot run (fewer than 3 values, or all equal).
    """

    p_value: float
    method: str
    normality_p: tuple[float, float] | None = None


# --------------------------------------------------------------------------- validators


def _check_alpha(alpha_normal: float) -> float:
    a = float(alpha_normal)
    if not 0.0 < a < 1.0:
        raise ValueError(f"alpha_normal must be strictly between 0 and 1, got {alpha_normal!r}")
    return a


def _check_small_cell(small_cell: str) -> str:
    if small_cell not in _SMALL_CELL_RULES:
        raise ValueError(f"small_cell must be one of {_SMALL_CELL_RULES}, got {small_cell!r}")
    return small_cell


def _check_sample(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float).ravel()
    if arr.size < 2:
        raise ValueError(f"{name}: need at least 2 values, got {arr.size}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return arr


def _check_clinical(clinical: pd.DataFrame, rows: Sequence[Table1Row]) -> pd.DataFrame:
    if not isinstance(clinical, pd.DataFrame):
        raise TypeError(f"clinical must be a pandas DataFrame, got {type(clinical).__name__}")
    required, categorical, numeric = _source_columns(rows)
    missing = [c for c in required if c not in clinical.columns]
    if missing:
        raise ValueError(f"clinical: missing column(s) {missing}")
    for col in required:
        na = clinical[col].isna().to_numpy()
        if na.any():
            raise ValueError(f"clinical: field {col}: missing value in row {int(np.flatnonzero(na)[0])}")
    for col, levels in categorical.items():
        bad = ~clinical[col].astype(str).isin(levels).to_numpy()
        if bad.any():
            raise ValueError(f"clinical: field {col}: unknown category "
                             f"{clinical[col].astype(str).to_numpy()[bad][0]!r} (allowed: {', '.join(levels)})")
    for col in numeric:
        try:
            pd.to_numeric(clinical[col], errors="raise")
        except (ValueError, TypeError):
            raise ValueError(f"clinical: field {col}: non-numeric values") from None
    return clinical


def _check_group(group, n: int, index: pd.Index) -> np.ndarray:
    if isinstance(group, pd.Series):
        if len(group) == n and not group.index.equals(index):
            raise ValueError("group: its index differs from clinical's index; pass an array or align it")
        values = group.to_numpy()
    else:
        values = np.asarray(group)
    if values.ndim != 1 or len(values) != n:
        raise ValueError(f"group: length {len(values) if values.ndim == 1 else values.shape} "
                         f"differs from clinical's {n} rows")
    labels = values.astype(str)
    unknown = sorted(str(v) for v in set(labels) - set(_GROUPS))
    if unknown:
        raise ValueError(f"group: unknown label(s) {unknown}; expected 'train' or 'test'")
    for g in _GROUPS:
        if not (labels == g).any():
            raise ValueError(f"group: no patient labelled {g!r}")
    return labels


# --------------------------------------------------------------------------- tests


def _shapiro_p(x: np.ndarray) -> float:
    """Shapiro-Wilk p, NaN where R's shapiro.test would stop (n < 3 or all equal)."""
    if x.size < 3 or np.ptp(x) == 0:
        return float("nan")
    return float(stats.shapiro(x).pvalue)


def compare_continuous(train, test, *, alpha_normal: float = 0.05) -> Comparison:
    """Compare a continuous variable between two groups, as the paper's Table 1.

    Parameters
    ----------
    train, test : array_like, shape (n_train,), (n_test,)
        Values of each group (finite).
    alpha_normal : float
        Shapiro-Wilk level: both groups with p > ``alpha_normal`` count as
        normal.

    Returns
    -------
    Comparison
        ``method`` is ``"Welch t-test"`` (both normal; R's ``t.test``
        default), ``"Wilcoxon rank-sum (exact)"`` (fewer than 50 per group
        and no ties) or ``"Wilcoxon rank-sum (normal approx.)"`` (with tie
        correction and continuity correction, as R's ``wilcox.test``).

    Examples
    --------
    >>> r = compare_continuous([1.1, 2.3, 1.9, 3.0, 2.2], [2.9, 3.5, 2.8, 4.1, 3.3])
    >>> r.method, round(r.p_value, 4)
    ('Welch t-test', 0.0148)
    >>> compare_continuous([1, 2, 3, 4, 100], [5, 6, 7, 8, 9]).method
    'Wilcoxon rank-sum (exact)'
    """
    alpha = _check_alpha(alpha_normal)
    x = _check_sample(train, "train")
    y = _check_sample(test, "test")
    px, py = _shapiro_p(x), _shapiro_p(y)
    if px > alpha and py > alpha:  # NaN compares False: not shown normal
        p = stats.ttest_ind(x, y, equal_var=False).pvalue
        return Comparison(float(p), "Welch t-test", (px, py))
    ties = np.unique(np.concatenate([x, y])).size < x.size + y.size
    exact = x.size < 50 and y.size < 50 and not ties
    res = stats.mannwhitneyu(x, y, alternative="two-sided", use_continuity=True,
                             method="exact" if exact else "asymptotic")
    name = "Wilcoxon rank-sum (exact)" if exact else "Wilcoxon rank-sum (normal approx.)"
    return Comparison(float(res.pvalue), name, (px, py))


def compare_categorical(table, *, small_cell: str = "expected") -> Comparison:
    """Compare a categorical variable between groups from its contingency table.

    Parameters
    ----------
    table : array_like of int, shape (n_levels, n_groups)
        Counts; rows (levels) or columns (groups) that are all zero are
        dropped first.
    small_cell : {"expected", "observed"}
        Cells that send the table to Fisher's exact test: any expected
        count < 5 (default) or any observed count < 5.

    Returns
    -------
    Comparison
        ``method`` is ``"Pearson chi-square (Yates)"`` for 2x2 tables (R's
        ``chisq.test`` default correction), ``"Pearson chi-square"`` for
        larger ones, ``"Fisher exact"``, or ``"not tested (one level)"``
        with a NaN p-value.

    Examples
    --------
    >>> r = compare_categorical([[308, 134], [139, 57]])  # the paper's sex row
    >>> r.method, round(r.p_value, 2)
    ('Pearson chi-square (Yates)', 0.83)
    >>> compare_categorical([[9, 7], [438, 184]]).method  # WHO type: an expected count is 4.79
    'Fisher exact'
    """
    rule = _check_small_cell(small_cell)
    t = np.asarray(table)
    if t.ndim != 2:
        raise ValueError(f"table: must be 2-dimensional, got shape {t.shape}")
    if not np.issubdtype(t.dtype, np.number) or (t < 0).any() or (t != np.round(t)).any():
        raise ValueError("table: counts must be non-negative integers")
    t = t.astype(np.int64)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if t.shape[0] < 2 or t.shape[1] < 2:
        return Comparison(float("nan"), "not tested (one level)")
    expected = stats.contingency.expected_freq(t)
    small = (expected < 5).any() if rule == "expected" else (t < 5).any()
    if small:
        return Comparison(float(stats.fisher_exact(t).pvalue), "Fisher exact")
    res = stats.chi2_contingency(t, correction=True)
    name = "Pearson chi-square (Yates)" if t.shape == (2, 2) else "Pearson chi-square"
    return Comparison(float(res.pvalue), name)


# --------------------------------------------------------------------------- table


def table1_groups(clinical: pd.DataFrame, *, rows: Sequence[Table1Row] = TABLE1_ROWS) -> pd.DataFrame:
    """The derived categorical columns of Table 1, one per categorical row.

    Returns
    -------
    DataFrame
        Index of ``clinical``; columns ``sex``, ``hgb_group``, ...,
        ``ebv_dna_group`` holding the printed level names (``"Male"``,
        ``"Abnormal"``, ``"< 4000"``, ...).
    """
    rows = _check_rows(rows)
    df = _check_clinical(clinical, rows)
    return pd.DataFrame({row.variable: row.derive(df) for row in rows if row.derive}, index=df.index)


def table1_numbers(clinical: pd.DataFrame, group, *, rows: Sequence[Table1Row] = TABLE1_ROWS,
                   alpha_normal: float = 0.05, small_cell: str = "expected") -> pd.DataFrame:
    """The raw numbers behind Table 1, to compare with the paper's.

    Parameters
    ----------
    clinical : DataFrame, n rows
        The columns the rows name (default: age, sex, hgb, family_history,
        smoking, drinking, who_type, alb, crp, ldh, ebv_dna in the units of
        the cut-offs: years, g/L, mg/L, U/L, copy/mL), without missing
        values; categorical columns hold the raw values the rows' ``Recode``
        rules name (e.g. ``"M"``/``"F"``).
    group : Series or array_like of str, length n
        ``"train"`` or ``"test"`` per row (a Series must share ``clinical``'s
        index).
    rows : sequence of Table1Row, default TABLE1_ROWS
        The variables, their levels and clinical cut-offs (the paper's Table 1).
    alpha_normal, small_cell
        See :func:`compare_continuous` and :func:`compare_categorical`.

    Returns
    -------
    DataFrame
        One row per Table 1 line with ``variable``, ``level`` (``"median
        (range)"`` for continuous rows), ``label``, ``kind``, ``n_train``,
        ``n_test``; continuous rows fill ``{train,test}_{median,min,max}``,
        categorical rows ``{train,test}_{count,percent}`` (percent of the
        group, 0-100); ``p_value`` and ``method`` repeat on each level row of
        a variable.
    """
    alpha = _check_alpha(alpha_normal)
    rule = _check_small_cell(small_cell)
    rows = _check_rows(rows)
    df = _check_clinical(clinical, rows)
    labels = _check_group(group, len(df), df.index)
    is_train = labels == "train"
    n = {"train": int(is_train.sum()), "test": int((~is_train).sum())}
    derived = table1_groups(df, rows=rows)
    records = []
    for row in rows:
        base = {"variable": row.variable, "n_train": n["train"], "n_test": n["test"]}
        if row.column is not None:
            x = df[row.column].to_numpy(float)
            cmp = compare_continuous(x[is_train], x[~is_train], alpha_normal=alpha)
            rec = {**base, "level": "median (range)", "label": row.label, "kind": "continuous"}
            for g, sel in (("train", is_train), ("test", ~is_train)):
                rec.update({f"{g}_median": float(np.median(x[sel])), f"{g}_min": float(x[sel].min()),
                            f"{g}_max": float(x[sel].max())})
            records.append({**rec, "p_value": cmp.p_value, "method": cmp.method})
            continue
        values = derived[row.variable].to_numpy()
        counts = np.array([[np.sum((values == lvl) & sel) for sel in (is_train, ~is_train)]
                           for lvl, _ in row.levels])
        cmp = compare_categorical(counts, small_cell=rule)
        for (lvl, printed), (c_train, c_test) in zip(row.levels, counts):
            records.append({
                **base, "level": lvl, "label": f"{row.label.split(',')[0]}: {printed}",
                "kind": "categorical",
                "train_count": int(c_train), "train_percent": 100.0 * c_train / n["train"],
                "test_count": int(c_test), "test_percent": 100.0 * c_test / n["test"],
                "p_value": cmp.p_value, "method": cmp.method,
            })
    cols = ["variable", "level", "label", "kind", "n_train", "n_test",
            "train_median", "train_min", "train_max", "test_median", "test_min", "test_max",
            "train_count", "train_percent", "test_count", "test_percent", "p_value", "method"]
    out = pd.DataFrame.from_records(records).reindex(columns=cols)
    return out.astype({"train_count": "Int64", "test_count": "Int64"})


def _format_row(rec: pd.Series, fmt: str, group: str) -> str:
    if rec["kind"] == "continuous":
        med, lo, hi = (fmt.format(rec[f"{group}_{k}"]) for k in ("median", "min", "max"))
        return f"{med} ({lo}-{hi})"
    return f"{rec[f'{group}_count']} ({rec[f'{group}_percent']:.1f})"


def table1(clinical: pd.DataFrame, group, *, rows: Sequence[Table1Row] = TABLE1_ROWS,
           alpha_normal: float = 0.05, small_cell: str = "expected") -> pd.DataFrame:
    """Table 1 of the paper: training vs test characteristics with p-values.

    Parameters
    ----------
    clinical, group, rows, alpha_normal, small_cell
        See :func:`table1_numbers`.

    Returns
    -------
    DataFrame
        Columns ``variable``, ``level``, ``label``, ``train``, ``test``
        (formatted ``"median (range)"`` or ``"n (%)"``), ``p_value`` (float,
        repeated on each level of a variable) and ``method`` (test used).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> n = 60
    >>> df = pd.DataFrame({"age": rng.integers(20, 70, n), "sex": rng.choice(["M", "F"], n),
    ...     "hgb": rng.normal(140, 12, n), "family_history": rng.choice(["yes", "no"], n),
    ...     "smoking": rng.choice(["yes", "no"], n), "drinking": rng.choice(["yes", "no"], n),
    ...     "who_type": rng.choice(["III", "I-II"], n), "alb": rng.normal(44, 3, n),
    ...     "crp": rng.lognormal(0.5, 1, n), "ldh": rng.lognormal(5.2, 0.2, n),
    ...     "ebv_dna": rng.lognormal(8, 2, n)})
    >>> t = table1(df, np.where(np.arange(n) < 40, "train", "test"))
    >>> t.loc[t.variable == "sex", ["level", "train", "test"]].values.tolist()
    [['Male', '18 (45.0)', '10 (50.0)'], ['Female', '22 (55.0)', '10 (50.0)']]
    >>> age = t[t.variable == "age"].iloc[0]
    >>> age["train"], round(float(age["p_value"]), 2), age["method"]
    ('47 (20-68)', 0.82, 'Wilcoxon rank-sum (normal approx.)')
    """
    rows = _check_rows(rows)
    nums = table1_numbers(clinical, group, rows=rows, alpha_normal=alpha_normal, small_cell=small_cell)
    fmts = {row.variable: row.fmt for row in rows}
    out = nums[["variable", "level", "label"]].copy()
    for g in _GROUPS:
        out[g] = [_format_row(rec, fmts[rec["variable"]], g) for _, rec in nums.iterrows()]
    out["p_value"] = nums["p_value"]
    out["method"] = nums["method"]
    return out
