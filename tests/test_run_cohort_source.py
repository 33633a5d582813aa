"""The twin of a run (npc_lib.run.cohort_source): simulated once per stamp, for either centre."""

import json

import npc_lib.twin.simulate as simulate
from npc_lib.run.cohort_source import ensure_twin


def test_ensure_twin_simulates_once_per_stamp_and_again_when_it_changes(tmp_path, monkeypatch):
    calls = []

    def fake(out_dir, n, seed, *, progress, n_jobs, centre):
        calls.append((n, seed, centre))
        out_dir.mkdir(exist_ok=True)  # the simulator replaces an existing folder

    monkeypatch.setattr(simulate, "simulate_cohort", fake)
    dev, stamp = ensure_twin(tmp_path / "dev", n=20, seed=3)
    assert ensure_twin(tmp_path / "dev", n=20, seed=3) == (dev, stamp) and calls == [(20, 3, "development")]
    assert "centre" not in json.loads((tmp_path / "dev.stamp.json").read_text())  # development stamps as before
    ext, ext_stamp = ensure_twin(tmp_path / "ext", n=20, seed=3, centre="external")
    assert ext_stamp != stamp and calls[-1] == (20, 3, "external")
    assert json.loads((tmp_path / "ext.stamp.json").read_text())["centre"] == "external"
    ensure_twin(tmp_path / "dev", n=21, seed=3)  # another size: simulated again
    assert calls[-1] == (21, 3, "development") and len(calls) == 3
