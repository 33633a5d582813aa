"""The paper profile is exercised (issue 8, item 6): SE-ResNeXt-50 (32x4d) trains one step on CPU."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from npc_lib.imaging.instances import InstanceSet  # noqa: E402
from npc_lib.model.checkpoint import snapshot_variables  # noqa: E402
from npc_lib.model.training import predict_patient_risk, train_signature  # noqa: E402
from npc_lib.run import resolve_profile  # noqa: E402


@pytest.mark.slow
def test_paper_profile_se_resnext50_trains_one_step_on_cpu():
    config = resolve_profile("paper").train
    net = config.network
    assert (net.stage_depths, net.cardinality, net.bottleneck_width) == ((3, 4, 6, 3), 32, 4)
    assert net.input_shape == (config.box_px, config.box_px, 1) == (128, 128, 1)
    # one Cox step on 4 patients x 2 boxes: the paper network, MIL pooling and loss as configured
    tiny = config.replace(epochs_pretrain=0, epochs_cox=1, batch_patients=4, min_events_per_batch=1,
                          max_instances=2, val_fraction=0.0, ensemble_size=1, predict_batch=8)
    rng = np.random.default_rng(0)
    bag = np.repeat(np.arange(4), 2)
    x = rng.normal(size=(8, 128, 128, 1)).astype(np.float32)
    inst = InstanceSet(x=x, bag=bag, patient_ids=["A", "B", "C", "D"], slice_index=np.tile([0, 1], 4),
                       sequence="T1")
    time, event = np.array([5.0, 12.0, 30.0, 40.0]), np.array([1, 1, 0, 1])
    from npc_lib.model.seresnext import build_se_resnext

    keras.utils.set_random_seed(0)
    before = snapshot_variables(build_se_resnext(tiny.network, name="signature").trainable_variables)
    result = train_signature(inst, time, event, tiny, seed=0, progress=False)
    n_params = sum(int(np.prod(v.shape)) for v in result.model.trainable_variables)
    assert 25e6 < n_params < 26e6  # 27.56 M with the 1000-class head; one risk unit instead
    h = result.history
    assert len(h) == 1 and h["instances"].iloc[0] == 8 and np.isfinite(h["loss"].iloc[0])
    after = snapshot_variables(result.model.trainable_variables)
    assert len(after) == len(before) and not all(np.array_equal(a, b) for a, b in zip(before, after))
    assert np.all(np.isfinite(predict_patient_risk(result.model, inst, tiny).to_numpy()))
