"""Tune the DL-signature protocol on twins set aside for tuning (issue 8): per-member, per-epoch records.

For each twin (``data/twin_n638_seed<S>``, the book's 447/191 split) and
sequence, the instances are preprocessed once and ``--members`` networks are
trained with the candidate configuration (``--set key=value`` overrides of the
``default`` preset; ``--tag`` names the candidate). After Cox epochs
``E/2``, ``3E/4`` and ``E`` (and after weight averaging) every patient's risk is
predicted, so one run answers several questions at once: how a single member
scores, how an ensemble of the first k members scores, whether later epochs
help, whether mirrored test-time slices help. One ``.npz`` per member
(resumable: finished members are skipped).

Only for choosing the protocol: run it on tuning twins (seeds 101-105), never
on the book's twin (seed 0) or the report twins of ``bench_signatures.py``.

    python benchmarks/tune_signatures.py --twins 101,102 --sequences T1 --members 3 --tag base \
        --set val_fraction=0 --out /work/notes/train/tune
    python benchmarks/tune_signatures.py --report --out /work/notes/train/tune
"""

from __future__ import annotations

import argparse
import json
import sys
import time as _time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _value(raw: str):
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.lower() in ("none", "null"):
        return None
    return raw


def _overrides(items) -> dict:
    out: dict = {}
    for item in items or []:
        key, _, raw = item.partition("=")
        if key.startswith("network."):
            out.setdefault("network", {})[key.split(".", 1)[1]] = _value(raw)
        else:
            out[key] = _value(raw)
    return out


def _twin(seed: int) -> Path:
    return ROOT / "data" / f"twin_n638_seed{seed}"


def _instances(cohort, seq, config, train_ids, test_ids, cache: Path):
    from npc_lib.imaging.instances import InstanceSet
    from npc_lib.runners.train import _make_instances

    if cache.is_file():
        return InstanceSet.load(cache)
    inst = _make_instances(cohort, seq, config, progress=False)(train_ids, train_ids + test_ids)
    inst.save(cache)
    return inst


def train(args) -> None:
    from npc_lib.model.backend import configure_backend

    configure_backend()
    from npc_lib.cohort.load import load_cohort
    from npc_lib.cohort.split import split_cohort
    from npc_lib.model.checkpoint import assign_variables, snapshot_variables
    from npc_lib.model.ensemble import member_seed
    from npc_lib.model.train_config import TrainConfig
    from npc_lib.model.training import predict_patient_risk, train_signature
    from npc_lib.runners.train import _outcomes

    config = TrainConfig.for_preset("default", _overrides(args.set))
    out = Path(args.out)
    (out / args.tag).mkdir(parents=True, exist_ok=True)
    (out / args.tag / "config.json").write_text(json.dumps(config.to_dict(), indent=1))
    for twin in [int(t) for t in args.twins.split(",")]:
        cohort = load_cohort(_twin(twin), check_images="none")
        split = split_cohort(cohort.patient_ids, train_fraction=0.7006, seed=2020)
        train_ids = split.loc[split.cohort == "train", "patient_id"].tolist()
        test_ids = split.loc[split.cohort == "test", "patient_id"].tolist()
        for seq in args.sequences.split(","):
            key = f"{seq}_{config.box_mm:g}mm_{config.box_px}px_{config.target_spacing:g}"
            inst = _instances(cohort, seq, config, train_ids, test_ids, out / f"inst_{twin}_{key}.npz")
            tr = inst.subset(train_ids)
            time, event = _outcomes(cohort, train_ids)
            for k in range(args.members):
                path = out / args.tag / f"{twin}_{seq}_{args.seed}_m{k}.npz"
                if path.is_file():
                    continue
                marks = {config.epochs_cox // 2, (3 * config.epochs_cox) // 4, config.epochs_cox}
                risks, avg = {}, {}

                def hook(stage, epoch, model):
                    if stage == 2 and epoch in marks:
                        risks[f"e{epoch}"] = predict_patient_risk(model, inst, config.replace(predict_flip=False))
                    if stage == 2 and epoch > config.epochs_cox - args.average and config.average_last <= 1:
                        # weight averaging of the last epochs, evaluated on the side (no effect on training)
                        w = snapshot_variables(model.variables)
                        n = epoch - (config.epochs_cox - args.average)
                        avg["w"] = w if n == 1 else [a + (b - a) / n if np.issubdtype(b.dtype, np.floating) else b
                                                      for a, b in zip(avg["w"], w)]
                        if epoch == config.epochs_cox:
                            assign_variables(model.variables, avg["w"], "average")
                            risks[f"avg{args.average}"] = predict_patient_risk(model, inst,
                                                                                config.replace(predict_flip=False))
                            assign_variables(model.variables, w, "last")

                t0 = _time.perf_counter()
                res = train_signature(tr, time, event, config, seed=member_seed(args.seed, k), progress=False,
                                      on_epoch_model=hook)
                seconds = _time.perf_counter() - t0
                risks["final"] = predict_patient_risk(res.model, inst, config.replace(predict_flip=False))
                risks["final_flip"] = predict_patient_risk(res.model, inst, config.replace(predict_flip=True))
                np.savez(path, ids=np.array(inst.patient_ids), seconds=seconds,
                         epochs=json.dumps(res.epochs), **{n: r.to_numpy() for n, r in risks.items()})
                print(f"{args.tag} twin {twin} {seq} member {k}: {seconds:.0f} s", flush=True)


def _cindex(clin, ids, risk):
    from npc_lib.stats.concordance import concordance_index

    c = clin.loc[ids]
    return concordance_index(c["dfs_time"].to_numpy(float), c["dfs_event"].to_numpy(int),
                             risk.loc[ids].to_numpy()).c_index


def report(args) -> pd.DataFrame:
    from npc_lib.cohort.load import load_cohort
    from npc_lib.cohort.split import split_cohort
    from npc_lib.model.ensemble import ensemble_signature, standardise_members
    from npc_lib.twin.truth import read_truth

    out = Path(args.out)
    rows = []
    cache: dict = {}
    for tagdir in sorted(p for p in out.iterdir() if p.is_dir()):
        files = sorted(tagdir.glob("*_m*.npz"))
        groups: dict = {}
        for f in files:
            twin, seq, seed, m = f.stem.split("_")
            groups.setdefault((int(twin), seq, int(seed)), []).append((int(m[1:]), f))
        for (twin, seq, seed), members in sorted(groups.items()):
            if twin not in cache:
                cohort = load_cohort(_twin(twin), check_images="none")
                split = split_cohort(cohort.patient_ids, train_fraction=0.7006, seed=2020)
                cache[twin] = (cohort.clinical.set_index("patient_id"), split,
                               read_truth(_twin(twin)).set_index("patient_id"))
            clin, split, truth = cache[twin]
            train_ids = split.loc[split.cohort == "train", "patient_id"].tolist()
            test_ids = split.loc[split.cohort == "test", "patient_id"].tolist()
            oracle = _cindex(clin, test_ids, truth[f"lp_{seq}"])
            loaded = [np.load(f) for _, f in sorted(members)]
            names = [n for n in loaded[0].files if n not in ("ids", "seconds", "epochs")]
            for name in names:
                series = [pd.Series(z[name], index=z["ids"]) for z in loaded]
                row = {"tag": tagdir.name, "twin": twin, "seq": seq, "seed": seed, "at": name, "oracle": oracle,
                       "sec_member": float(np.mean([float(z["seconds"]) for z in loaded]))}
                for j, s in enumerate(series):
                    row[f"m{j}"] = _cindex(clin, test_ids, s) / oracle
                for kk in range(2, len(series) + 1):
                    sig = ensemble_signature(series[:kk], standardise_members(series[:kk], train_ids))
                    row[f"ens{kk}"] = _cindex(clin, test_ids, sig) / oracle
                    if kk == len(series):
                        row["spearman"] = float(pd.Series(sig.loc[test_ids].to_numpy()).corr(
                            pd.Series(truth.loc[test_ids, f"lp_{seq}"].to_numpy()), method="spearman"))
                rows.append(row)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.round(3).to_string(index=False))
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--twins", default="101")
    p.add_argument("--sequences", default="T1,T2,T1C")
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--average", type=int, default=3, help="also score the mean weights of the last N Cox epochs")
    p.add_argument("--tag", default="base")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--out", default="/work/notes/train/tune")
    p.add_argument("--report", action="store_true")
    args = p.parse_args()
    report(args) if args.report else train(args)


if __name__ == "__main__":
    main()
