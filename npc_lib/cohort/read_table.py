"""Read a clinical table as real exports come (analysis B5).

:func:`read_table` turns ``clinical.csv`` (or an Excel workbook saved under
that name) into a table of text cells, without guessing any value's type:
ids such as ``NA``, ``None`` or ``007`` stay ids. What an export does
differently but unambiguously is normalised and listed as a note in the
report:

* delimiter sniffed among ``,`` ``;`` tab and ``|`` (decimal commas are then
  allowed in numbers, see :attr:`Table.decimal_comma`);
* UTF-8 with or without a byte-order mark, UTF-16 with one; a file that is not
  UTF-8 is read as Windows-1252 (what Excel writes), or Latin-1, with a note
  that names the fix ("save as CSV UTF-8");
* an ``.xlsx`` workbook (renamed ``.csv`` or not) is read from its first sheet
  with openpyxl; an old ``.xls`` is an error that says how to convert it;
* whitespace around headers and cells stripped, text in Unicode NFC;
* a trailing empty column (a delimiter at the end of every line) dropped;
  empty lines skipped.

Errors (also in the report): an empty or binary file, a row with more or fewer
cells than the header, a column without a header, a duplicated header.
"""

from __future__ import annotations

__all__ = ["Table", "read_table", "find_table", "TABLE_NAMES", "DELIMITERS"]

import csv
import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from npc_lib.cohort import schema
from npc_lib.cohort.problems import ValidationReport

#: delimiters tried when sniffing, in order of preference on a tie
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}

#: file names accepted for the clinical table (case-insensitive), preferred first
TABLE_NAMES: tuple[str, ...] = (schema.CLINICAL_FILE, "clinical.tsv", "clinical.txt", "clinical.xlsx")

_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"


@dataclass
class Table:
    """A clinical table as text.

    Attributes
    ----------
    frame : DataFrame
        One column per header (stripped, NFC), every cell a ``str``
        (stripped, NFC; an empty cell is ``""``).
    source : str
        File name relative to the cohort root, for messages.
    lines : list of int
        The file line (1 = header) of each row, for messages.
    decimal_comma : bool
        True when a decimal comma (``45,5``) is unambiguous: the delimiter is
        not a comma.
    """

    frame: pd.DataFrame
    source: str
    lines: list[int]
    decimal_comma: bool = False


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def find_table(root: Path, report: ValidationReport) -> Path | None:
    """The clinical table of cohort ``root``: ``clinical.csv`` or a case/extension variant.

    A variant (``Clinical.CSV``, ``clinical.xlsx``) is accepted with a note;
    none found is an error in ``report``.
    """
    exact = root / schema.CLINICAL_FILE
    if exact.is_file():
        return exact
    by_lower = {p.name.lower(): p for p in sorted(root.iterdir()) if p.is_file()}
    for name in TABLE_NAMES:
        if name in by_lower:
            found = by_lower[name]
            report.note(f"clinical table read from {found.name} (expected {schema.CLINICAL_FILE})",
                        file=found.name)
            return found
    report.error(f"file not found in {root}", file=schema.CLINICAL_FILE)
    return None


def _decode(raw: bytes, source: str, report: ValidationReport) -> str | None:
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            text = raw[3:].decode("utf-8")
        except UnicodeDecodeError:
            raw = raw[3:]  # a BOM, then not UTF-8 after all: decoded below
        else:
            report.note("UTF-8 with a byte-order mark (BOM): mark removed", file=source)
            return text
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            report.error(f"unreadable UTF-16 text ({exc}); save it as 'CSV UTF-8'", file=source)
            return None
        report.note("UTF-16 text (as saved by 'Unicode text' exports): decoded", file=source)
        return text
    if b"\x00" in raw:
        report.error("binary file, not a text table (save it as CSV UTF-8)", file=source)
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start}"
    for enc, name in (("cp1252", "Windows-1252 (cp1252, as Excel saves 'CSV')"), ("latin-1", "Latin-1")):
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        report.note(f"not UTF-8 (first non-UTF-8 {where}): read as {name}; "
                    "save the file as 'CSV UTF-8' to make this explicit", file=source)
        return text
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _xlsx_cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _read_xlsx(raw: bytes, source: str, report: ValidationReport) -> list[list[str]] | None:
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - openpyxl is a dependency
        report.error("an Excel workbook (.xlsx): save it as 'CSV UTF-8'", file=source)
        return None
    try:
        wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        ws = wb.worksheets[0]
        rows = [[_xlsx_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
        title, n_sheets = ws.title, len(wb.worksheets)
        wb.close()
    except Exception as exc:  # openpyxl raises many types for broken workbooks
        report.error(f"unreadable Excel workbook ({type(exc).__name__}: {exc}); save it as 'CSV UTF-8'",
                     file=source)
        return None
    extra = f" (of {n_sheets})" if n_sheets > 1 else ""
    report.note(f"an Excel workbook (.xlsx), not a CSV: read its first sheet {title!r}{extra}", file=source)
    return rows


def _split(text: str, delimiter: str, limit: int | None = None) -> list[tuple[int, list[str]]]:
    """Records of ``text`` with the file line each starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out, last = [], 0
    for row in reader:
        out.append((last + 1, row))
        last = reader.line_num
        if limit is not None and len(out) >= limit:
            break
    return out


def _sniff(text: str) -> str:
    """The delimiter whose records have the most consistent, widest shape."""
    best, best_score = ",", None
    for d in DELIMITERS:
        rows = [r for _, r in _split(text, d, limit=30) if any(c.strip() for c in r)]
        if not rows:
            continue
        width = len(rows[0])
        consistent = sum(len(r) in (width, width + 1) for r in rows) / len(rows)
        score = (width > 1, consistent, width)
        if best_score is None or score > best_score:
            best, best_score = d, score
    return best


def _normalise_header(header: list[str], source: str, report: ValidationReport) -> list[str]:
    names = [_nfc(h.replace("\ufeff", "").strip()) for h in header]
    changed = [h for h, n in zip(header, names) if h != n]
    if changed:
        shown = ", ".join(repr(h) for h in changed[:5])
        report.note(f"spaces (or other invisible characters) removed around headers {shown}", file=source)
    return names


def read_table(path: str | Path, report: ValidationReport, source: str | None = None) -> Table | None:
    """Read a clinical table into text cells, adding notes and errors to ``report``.

    Parameters
    ----------
    path : path-like
        CSV/TSV (any delimiter of :data:`DELIMITERS`) or ``.xlsx`` file.
    report : ValidationReport
        Receives every note (normalisation) and error.
    source : str, optional
        Name used in messages (default: the file name).

    Returns
    -------
    Table or None
        None when nothing usable could be read (the reason is in ``report``).
    """
    path = Path(path)
    source = source or path.name
    raw = path.read_bytes()
    if not raw.strip():
        report.error("unreadable CSV: the file is empty", file=source)
        return None
    delimiter = None
    if raw.startswith(_XLSX_MAGIC):
        records = _read_xlsx(raw, source, report)
        if records is None:
            return None
        numbered = [(i + 1, r) for i, r in enumerate(records)]
    elif raw.startswith(_XLS_MAGIC):
        report.error("an old Excel workbook (.xls), not a CSV: open it in Excel and save as 'CSV UTF-8'",
                     file=source)
        return None
    else:
        text = _decode(raw, source, report)
        if text is None:
            return None
        delimiter = _sniff(text)
        if delimiter != ",":
            report.note(f"{_DELIM_NAMES[delimiter]}-delimited (not comma): read as such; "
                        "decimal commas accepted in numbers", file=source)
        try:
            numbered = _split(text, delimiter)
        except csv.Error as exc:
            report.error(f"unreadable CSV ({exc})", file=source)
            return None
    numbered = [(line, r) for line, r in numbered if any(c.strip() for c in r)]
    if not numbered:
        report.error("unreadable CSV: no header line", file=source)
        return None
    (_, header), body = numbered[0], numbered[1:]
    header = _normalise_header(header, source, report)
    width = len(header)
    # a delimiter at the end of every line: an empty last column (or one more cell than headers)
    if width > 1 and header[-1] == "" and all(len(r) < width or not r[width - 1].strip() for _, r in body):
        header, width = header[:-1], width - 1
        report.note("empty last column (a delimiter at the end of each line) ignored", file=source)
    elif body and all(len(r) == width + 1 and not r[-1].strip() for _, r in body):
        report.note("a delimiter at the end of each data line (one empty cell more than headers) ignored",
                    file=source)
    rows, lines, n_stripped = [], [], 0
    for line, r in body:
        if len(r) > width and not any(c.strip() for c in r[width:]):
            r = r[:width]
        if len(r) != width:
            report.error(f"line {line} has {len(r)} cells, the header has {width} "
                         "(a delimiter inside an unquoted value?)", file=source)
            continue
        cells = [_nfc(c.strip()) for c in r]
        n_stripped += sum(c != raw_c for c, raw_c in zip(cells, r))
        rows.append(cells)
        lines.append(line)
    if n_stripped:
        report.note(f"spaces removed around {n_stripped} cell value(s)", file=source)
    for j, name in enumerate(header):
        if name == "":
            report.error(f"column {j + 1} has no header", file=source)
    seen: dict[str, int] = {}
    keep = []
    for j, name in enumerate(header):
        key = name.lower()
        if name and key in seen:
            report.error(f"duplicated column header {name!r} (columns {seen[key] + 1} and {j + 1}); "
                         "only the first is read", file=source, field=name)
            continue
        seen.setdefault(key, j)
        if name:
            keep.append(j)
    frame = pd.DataFrame([[r[j] for j in keep] for r in rows], columns=[header[j] for j in keep], dtype=object)
    if frame.empty and not rows:
        frame = pd.DataFrame(columns=[header[j] for j in keep], dtype=object)
    return Table(frame=frame, source=source, lines=lines, decimal_comma=delimiter not in (None, ","))
