"""Tests of npc_lib.run.tripod: the TRIPOD+AI checklist is package data, read and checked."""

import pandas as pd
import pytest

from npc_lib.run import tripod


def test_tripod_checklist_has_every_subitem_once():
    t = tripod.tripod_checklist()
    assert len(t) == 52 and t["item"].is_unique and t["item"].str.extract(r"^(\d+)")[0].nunique() == 27
    assert set(t["status"]) <= set(tripod.STATUSES) and (t["where"] != "").all()
    assert t.iloc[0]["item"] == "1" and "27c" in set(t["item"])


def test_tripod_checklist_rejects_a_bad_file(monkeypatch, tmp_path):
    bad = tmp_path / "npc_lib" / "data"
    bad.mkdir(parents=True)
    pd.DataFrame({"item": ["1", "1"], "section": ["a", "a"], "topic": ["t", "t"], "status": ["maybe", "partly"],
                  "where": ["", "x"]}).to_csv(bad / tripod.TRIPOD_FILE, index=False)
    monkeypatch.setattr(tripod.resources, "files", lambda package: tmp_path / "npc_lib")
    with pytest.raises(ValueError, match=r"items listed twice: \['1'\]; unknown status\(es\) \['maybe'\].*"
                                         r"empty field\(s\) in item\(s\) \['1'\]"):
        tripod.tripod_checklist()
