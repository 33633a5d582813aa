"""Patient pseudonyms: the user's own key file, or keyed hashes with a secret the user keeps.

A plain hash of a hospital record number is no pseudonym: record numbers are
short, so hashing every possible one and comparing reverses it in seconds.
Without a key file, ids are ``<prefix><12 hex digits>`` of HMAC-SHA256 keyed by
a secret (32 random bytes, written to the secret file by the first import that
succeeds, and read by every later import, so the same patient gets the same id again); without the secret
nobody can recompute them. The key file (CSV ``dicom_patient_id,patient_id``)
holds the user's own pseudonyms instead.
"""

from __future__ import annotations

__all__ = ["Pseudonymiser", "check_pseudonym", "SECRET_BYTES"]

import csv
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

SECRET_BYTES = 32
_HEX_DIGITS = 12
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_pseudonym(value: str, where: str) -> str:
    """A pseudonym usable as a folder name: letters, digits, ``_ . -`` (at most 64), not starting with a dot."""
    value = str(value).strip()
    if not _SAFE_ID.match(value):
        raise ValueError(f"{where}: patient id {value!r} is not a safe folder name "
                         "(letters, digits, '_', '.', '-'; at most 64; starting with a letter or digit)")
    return value


def _read_key_file(path: Path) -> dict[str, str]:
    errors, out, seen = [], {}, {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["dicom_patient_id", "patient_id"]:
        raise ValueError(f"{path}: the first line must be the header 'dicom_patient_id,patient_id'")
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < 2:
            errors.append(f"line {line}: two columns expected")
            continue
        src, pid = row[0].strip(), row[1].strip()
        try:
            check_pseudonym(pid, f"line {line}")
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if src in out:
            errors.append(f"line {line}: DICOM patient id listed twice")
        elif pid in seen:
            errors.append(f"line {line}: pseudonym {pid!r} also on line {seen[pid]}")
        else:
            out[src], seen[pid] = pid, line
    if errors:
        raise ValueError(f"{path}: " + "; ".join(errors))
    return out


def _read_or_new_secret(path: Path) -> tuple[bytes, bool]:
    """(the secret of ``path``, False), or (a new random secret, True) when ``path`` does not exist yet."""
    if path.is_file():
        text = path.read_text(encoding="ascii").strip()
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            secret = b""
        if len(secret) < 16:
            raise ValueError(f"{path}: a secret file holds at least 32 hex digits (it was written by an earlier "
                             "import); restore it from your backup, or name another file to start new ids")
        return secret, False
    return secrets.token_bytes(SECRET_BYTES), True


@dataclass
class Pseudonymiser:
    """Gives each DICOM PatientID its cohort id.

    Build it with :meth:`from_files`; a new secret (``new_secret``) is written
    by :meth:`save_secret` once the import has succeeded.
    """

    key: dict[str, str] | None = None
    secret: bytes | None = None
    prefix: str = "P"
    new_secret: bool = False
    _given: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_files(cls, key_file: Path | None, secret_file: Path | None, prefix: str = "P") -> "Pseudonymiser":
        """The key file's pseudonyms when given, else keyed hashes with the secret file's secret (created if absent)."""
        if key_file is not None:
            return cls(key=_read_key_file(Path(key_file)), prefix=prefix)
        if secret_file is None:
            raise ValueError("patient ids: name a key file (your pseudonyms) or a secret file (keyed hashes)")
        secret, new = _read_or_new_secret(Path(secret_file))
        return cls(secret=secret, prefix=prefix, new_secret=new)

    def save_secret(self, path: Path) -> bool:
        """Write a new secret to ``path`` (owner-only permissions); False when the secret was read from there."""
        if not self.new_secret:
            return False
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(self.secret.hex() + "\n")
        self.new_secret = False
        return True

    def __call__(self, dicom_patient_id: str) -> str | None:
        """The pseudonym of ``dicom_patient_id`` (None: not in the key file).

        Examples
        --------
        >>> p = Pseudonymiser(secret=bytes(32), prefix="P")
        >>> p("12345") == p("12345"), p("12345") != p("12346"), len(p("12345"))
        (True, True, 13)
        """
        if self.key is not None:
            return self.key.get(dicom_patient_id)
        digest = hmac.new(self.secret, dicom_patient_id.encode("utf-8"), hashlib.sha256).hexdigest()
        pid = f"{self.prefix}{digest[:_HEX_DIGITS]}"
        other = self._given.setdefault(pid, dicom_patient_id)
        if other != dicom_patient_id:  # 48 bits: a collision is ~1e-9 likely for 1000 patients, but say so
            raise ValueError("two patients hash to one id: use a key file")
        return pid
