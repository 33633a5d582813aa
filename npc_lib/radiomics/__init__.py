"""Handcrafted radiomics (analysis A20, the paper's Appendix C).

* :mod:`~npc_lib.radiomics.extract`: PyRadiomics features of each sequence's
  tumour ROI in 3-D, with stated settings, across patients with joblib, and a
  cached feature table;
* :mod:`~npc_lib.radiomics.select`: feature reduction fitted on the training
  cohort only (non-finite, near-zero-variance and correlation filters, then an
  L1-penalised Cox model with a cross-validated penalty, as ``cv.glmnet``);
* :mod:`~npc_lib.radiomics.signature`: a handcrafted signature per sequence and
  one combined, applied to training and test patients.

This package reads images through :mod:`npc_lib.cohort` and never imports
Keras or the deep-learning model.
"""

from npc_lib.radiomics.extract import (
    BASELINE_SETTINGS,
    DEFAULT_SETTINGS,
    FEATURE_CLASSES,
    ExtractionSettings,
    FeatureTable,
    cached_features,
    extract_cohort,
    extract_features,
    feature_columns,
    radiomics_version,
)
from npc_lib.radiomics.select import FeatureSelection, cv_coxnet, select_features
from npc_lib.radiomics.signature import HandcraftedSignatures, fit_signatures, signature_name

__all__ = [
    "FEATURE_CLASSES",
    "ExtractionSettings",
    "DEFAULT_SETTINGS",
    "BASELINE_SETTINGS",
    "radiomics_version",
    "extract_features",
    "extract_cohort",
    "FeatureTable",
    "cached_features",
    "feature_columns",
    "FeatureSelection",
    "cv_coxnet",
    "select_features",
    "HandcraftedSignatures",
    "fit_signatures",
    "signature_name",
]
