"""Pseudonyms: the user's key file or keyed hashes (HMAC) with a kept secret."""

from __future__ import annotations

import hashlib

import pytest

from npc_lib.dicom.privacy import Pseudonymiser, check_pseudonym


def test_keyed_hash_needs_the_secret(tmp_path):
    secret = tmp_path / "s.secret"
    a = Pseudonymiser.from_files(None, secret)
    assert a.new_secret and not secret.exists()  # written only once an import succeeds
    assert a.save_secret(secret) and secret.stat().st_mode & 0o077 == 0
    b = Pseudonymiser.from_files(None, secret)
    assert not b.new_secret and b("123456") == a("123456")
    other = Pseudonymiser.from_files(None, tmp_path / "other.secret")
    assert other("123456") != a("123456")
    # not a plain hash of the record number
    assert hashlib.sha256(b"123456").hexdigest()[:12] not in a("123456")
    secret.write_text("abcd\n")
    with pytest.raises(ValueError, match="at least 32 hex digits"):
        Pseudonymiser.from_files(None, secret)


def test_key_file_pseudonyms_and_errors(tmp_path):
    key = tmp_path / "keys.csv"
    key.write_text("dicom_patient_id,patient_id\nMRN1,NPC001\nMRN2,NPC002\n")
    p = Pseudonymiser.from_files(key, None)
    assert p("MRN1") == "NPC001" and p("MRN9") is None
    key.write_text("dicom_patient_id,patient_id\nMRN1,NPC001\nMRN1,NPC002\nMRN3,NPC001\nMRN4,../x\n")
    with pytest.raises(ValueError) as info:
        Pseudonymiser.from_files(key, None)
    text = str(info.value)
    assert "line 3: DICOM patient id listed twice" in text and "line 4: pseudonym 'NPC001' also on line 2" in text
    assert "line 5" in text and "not a safe folder name" in text
    key.write_text("mrn,id\n")
    with pytest.raises(ValueError, match="first line must be the header"):
        Pseudonymiser.from_files(key, None)
    with pytest.raises(ValueError, match="name a key file"):
        Pseudonymiser.from_files(None, None)
    assert check_pseudonym(" P1 ", "x") == "P1"
