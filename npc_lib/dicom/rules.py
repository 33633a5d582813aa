"""The import rules: which series is T1, T2 and T1C, which ROI is the tumour, how patients are named.

A rules file is YAML::

    sequences:                  # case-insensitive regular expressions searched in
      T1: ['t1(?!.*(gd|post))'] # SeriesDescription and ProtocolName; a series must
      T2: ['t2']                #   also be axial (slice normal within
      T1C: ['post|gd|\\+c']      #   axial_max_angle degrees of the head-foot axis)
    roi: ['^gtv_?(nx|p)$']      # tumour ROI name patterns, first match wins
    # optional:
    axial_max_angle: 10         # degrees (default 10)
    study: null                 # a pattern searched in StudyDescription and StudyID
    patient_ids:
      key_file: keys.csv        # CSV: dicom_patient_id,patient_id (your pseudonyms)
      secret_file: npc.secret   # else HMAC-SHA256 keyed hashes with this secret
                                #   (default <cohort>.secret beside the cohort; a new
                                #   secret is written there by the first import)
      prefix: P                 # prefix of the keyed-hash ids

``roi`` is a list (one ROI, rasterised on every sequence's grid) or a mapping
``{T1C: [...], T1: [...]}``: a sequence listed gets its own ROI, one not listed
gets the ROI of the first sequence listed (mapped through patient coordinates).
Relative paths are relative to the rules file.
"""

from __future__ import annotations

__all__ = ["ImportRules", "DEFAULT_AXIAL_MAX_ANGLE", "load_rules", "rules_from_dict", "match_sequences",
           "match_roi"]

import re
from dataclasses import dataclass
from pathlib import Path

from npc_lib.cohort import schema

DEFAULT_AXIAL_MAX_ANGLE = 10.0
_KEYS = {"sequences", "roi", "axial_max_angle", "study", "patient_ids"}
_ID_KEYS = {"key_file", "secret_file", "prefix"}
_SAFE_PREFIX = re.compile(r"^[A-Za-z0-9_-]{0,16}$")


def _check_patterns(value, where: str, errors: list[str]) -> tuple[re.Pattern, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        errors.append(f"{where}: a non-empty list of regular expressions, got {value!r}")
        return ()
    out = []
    for p in value:
        try:
            out.append(re.compile(str(p), re.IGNORECASE))
        except re.error as exc:
            errors.append(f"{where}: {p!r} is not a regular expression ({exc})")
    return tuple(out)


def _check_sequence_keys(mapping, where: str, errors: list[str]) -> dict:
    if not isinstance(mapping, dict) or not mapping:
        errors.append(f"{where}: a mapping of sequence ({', '.join(schema.SEQUENCES)}) to patterns, got {mapping!r}")
        return {}
    bad = [k for k in mapping if k not in schema.SEQUENCES]
    if bad:
        errors.append(f"{where}: unknown sequence(s) {bad}; the cohort's are {list(schema.SEQUENCES)}")
    return {k: _check_patterns(v, f"{where}.{k}", errors) for k, v in mapping.items() if k in schema.SEQUENCES}


def _check_angle(value, errors: list[str]) -> float:
    try:
        angle = float(value)
    except (TypeError, ValueError):
        angle = float("nan")
    if not 0.0 <= angle < 90.0:
        errors.append(f"axial_max_angle: degrees in [0, 90), got {value!r}")
        return DEFAULT_AXIAL_MAX_ANGLE
    return angle


@dataclass(frozen=True)
class ImportRules:
    """Resolved import rules (see the module docstring for the file).

    Attributes
    ----------
    sequences : dict
        Sequence name -> compiled patterns (case-insensitive).
    roi : dict
        Sequence name -> ROI name patterns (first matching pattern wins); the
        sequences not listed use the first listed one's ROI. Key ``"*"`` when
        one ROI serves every sequence.
    axial_max_angle : float
        Largest angle (degrees) between a series' slice normal and the
        head-foot axis for it to count as axial.
    study : re.Pattern or None
        Pattern a study's StudyDescription or StudyID must match.
    key_file, secret_file : Path or None
        Pseudonym key file (CSV ``dicom_patient_id,patient_id``) and HMAC secret.
    id_prefix : str
        Prefix of keyed-hash patient ids.
    """

    sequences: dict
    roi: dict
    axial_max_angle: float = DEFAULT_AXIAL_MAX_ANGLE
    study: re.Pattern | None = None
    key_file: Path | None = None
    secret_file: Path | None = None
    id_prefix: str = "P"

    def roi_patterns(self, sequence: str) -> tuple[str, tuple[re.Pattern, ...]]:
        """(the sequence whose ROI ``sequence`` uses, its patterns)."""
        if "*" in self.roi:
            return sequence, self.roi["*"]
        if sequence in self.roi:
            return sequence, self.roi[sequence]
        first = next(iter(self.roi))
        return first, self.roi[first]


def rules_from_dict(raw, base: str | Path = ".") -> ImportRules:
    """Check a rules mapping (as read from YAML) and resolve it; every error at once.

    Examples
    --------
    >>> r = rules_from_dict({"sequences": {"T1": ["t1"]}, "roi": ["gtv"]})
    >>> sorted(r.sequences), r.axial_max_angle
    (['T1'], 10.0)
    """
    errors: list[str] = []
    if not isinstance(raw, dict):
        raise ValueError(f"rules: a mapping with keys sequences and roi, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        errors.append(f"unknown key(s) {unknown}; known: {sorted(_KEYS)}")
    for key in ("sequences", "roi"):
        if key not in raw:
            errors.append(f"{key}: missing")
    sequences = _check_sequence_keys(raw.get("sequences"), "sequences", errors) if "sequences" in raw else {}
    roi_raw = raw.get("roi")
    if isinstance(roi_raw, dict):
        roi = _check_sequence_keys(roi_raw, "roi", errors)
    else:
        roi = {"*": _check_patterns(roi_raw, "roi", errors)} if "roi" in raw else {}
    angle = _check_angle(raw.get("axial_max_angle", DEFAULT_AXIAL_MAX_ANGLE), errors)
    study = None
    if raw.get("study") is not None:
        pats = _check_patterns(raw["study"], "study", errors)
        study = pats[0] if pats else None
    ids = raw.get("patient_ids") or {}
    if not isinstance(ids, dict):
        errors.append(f"patient_ids: a mapping with {sorted(_ID_KEYS)}, got {ids!r}")
        ids = {}
    bad = sorted(set(ids) - _ID_KEYS)
    if bad:
        errors.append(f"patient_ids: unknown key(s) {bad}; known: {sorted(_ID_KEYS)}")
    prefix = str(ids.get("prefix", "P"))
    if not _SAFE_PREFIX.match(prefix):
        errors.append(f"patient_ids.prefix: letters, digits, _ or - (at most 16), got {prefix!r}")
    base = Path(base)
    key_file = base / Path(ids["key_file"]).expanduser() if ids.get("key_file") else None
    secret_file = base / Path(ids["secret_file"]).expanduser() if ids.get("secret_file") else None
    if key_file is not None and not key_file.is_file():
        errors.append(f"patient_ids.key_file: file not found: {key_file}")
    if errors:
        raise ValueError("rules: " + "; ".join(errors))
    return ImportRules(sequences, roi, angle, study, key_file, secret_file, prefix)


def load_rules(path: str | Path) -> ImportRules:
    """Read and check a rules YAML file (paths inside are relative to it)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"rules: file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"rules: {path} is not YAML: {exc}") from exc
    try:
        return rules_from_dict(raw, base=path.parent)
    except ValueError as exc:
        raise ValueError(f"{exc} (in {path})") from exc


def match_sequences(rules: ImportRules, texts: tuple[str, ...]) -> list[str]:
    """Sequences whose patterns are found in any of ``texts`` (SeriesDescription, ProtocolName).

    Examples
    --------
    >>> r = rules_from_dict({"sequences": {"T1": ["t1(?!.*(gd|post))"], "T1C": ["post|gd"]}, "roi": ["gtv"]})
    >>> match_sequences(r, ("T1 AX post Gd",)), match_sequences(r, ("t1_tse_tra", ""))
    (['T1C'], ['T1'])
    """
    return [seq for seq, pats in rules.sequences.items()
            if any(p.search(t) for p in pats for t in texts if t)]


def match_roi(patterns: tuple[re.Pattern, ...], names: list[str]) -> tuple[str | None, list[str]]:
    """(the winning pattern, ROI names it matches): the first pattern matching any name wins.

    Examples
    --------
    >>> import re
    >>> match_roi((re.compile("^gtv_?(nx|p)$", re.I),), ["Brainstem", "GTVnx", "GTV_p"])
    ('^gtv_?(nx|p)$', ['GTVnx', 'GTV_p'])
    """
    for p in patterns:
        found = [n for n in names if p.search(n.strip())]
        if found:
            return p.pattern, found
    return None, []
