"""MR preprocessing (analysis A3): resampling, standardisation, boxes, augmentation, MIL instances.

numpy/scipy only: nothing here imports a deep-learning framework.
"""

from npc_lib.imaging.augment import augment_batch, flip_lr
from npc_lib.imaging.boxes import resize_boxes, roi_centre, tumour_boxes, tumour_slices
from npc_lib.imaging.instances import InstanceSet, build_instances, fit_standardizer, net_scaling, patient_boxes
from npc_lib.imaging.resample import inplane_grid, resample_inplane
from npc_lib.imaging.standardize import DEFAULT_PERCENTILES, HistogramStandardizer, NotFittedError
from npc_lib.imaging.views import CHECK_PERCENTILES, before_after_by_scanner, landmark_spread

__all__ = [
    "resample_inplane",
    "inplane_grid",
    "HistogramStandardizer",
    "NotFittedError",
    "DEFAULT_PERCENTILES",
    "tumour_slices",
    "roi_centre",
    "tumour_boxes",
    "resize_boxes",
    "augment_batch",
    "flip_lr",
    "InstanceSet",
    "build_instances",
    "fit_standardizer",
    "patient_boxes",
    "net_scaling",
    "before_after_by_scanner",
    "landmark_spread",
    "CHECK_PERCENTILES",
]
