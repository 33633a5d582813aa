"""Survival statistics on arrays and DataFrames, each checked against R (``tests/data``).

Every function takes plain arrays or DataFrames (times in any unit, events 0/1,
risk scores higher = worse) and imports nothing of the cohort layout, imaging,
the model, Keras or the plots. One module per concept:

Inputs
    :mod:`._validation` the shared rules for survival data, scores,
    probabilities and evaluation times (``check_survival``, ...).
Survival curves and groups
    :mod:`.kaplan_meier` the one Kaplan-Meier (:class:`KaplanMeier`: reverse
    curve of the censoring, tie order, left/right limits, quantiles), log-rank
    test, two-group hazard ratio; :mod:`.followup` median follow-up, event
    tables; :mod:`.risk_groups` the training cut-off; :mod:`.endpoints` risk
    groups on every endpoint; :mod:`.subgroups` risk groups within subgroups.
Cox regression
    :mod:`.cox` ``coxph``; :mod:`.proportional_hazards` ``cox.zph``;
    :mod:`.stepwise` ``stepAIC``; :mod:`.model_selection` stepwise with guards
    for small data; :mod:`.bootstrap` optimism-corrected C-index.
Discrimination
    :mod:`.concordance` Harrell's C (survcomp); :mod:`.weighted_concordance`
    Harrell's and Uno's C (survival); :mod:`.tdroc` time-dependent ROC.
Calibration and prediction error
    :mod:`.calibration` rms ``calibrate``; :mod:`.calibration_metrics` ICI,
    E50, E90; :mod:`.brier` IPCW Brier score, IPA, integrated Brier score.
Transport to new patients
    :mod:`.transport` calibration slope, observed/expected, Poisson
    calibration (Crowson), baseline update for recalibration.
Clinical usefulness
    :mod:`.decision_curve` net benefit.
Nomogram
    :mod:`.nomogram` rms ``nomogram``; :mod:`.nomogram_export` model file and calculator.
Descriptive
    :mod:`.table1` baseline characteristics with the paper's tests.
Tables for the book on cohorts of any size
    :mod:`.capture` warnings and errors as notes; :mod:`.performance`
    per-model tables (undefined values as NaN with a note).

Numbers are formatted for display by :mod:`npc_lib.report` (``format_p``, ``format_ci``).
"""

# survival curves and groups
from .kaplan_meier import HazardRatioResult, KaplanMeier, LogrankResult, hazard_ratio, kaplan_meier, logrank_test
from .followup import FollowUp, median_follow_up
from .risk_groups import RiskCutoff, logrank_statistics
from .endpoints import at_risk_table, compare_risk_groups, endpoint_table, km_curve_table
from .subgroups import InteractionTest, SubgroupAnalysis, interaction_test, subgroup_analysis, subgroup_hazard_ratios
# Cox regression
from .cox import CoxConvergenceWarning, CoxResult, fit_cox, univariate_cox
from .proportional_hazards import ScaledSchoenfeld, proportional_hazards_test, scaled_schoenfeld_residuals
from .stepwise import StepwiseResult, stepwise_cox
from .model_selection import ModelSelection, select_model
from .bootstrap import BootstrapCindexResult, optimism_corrected_cindex
# discrimination
from .concordance import ConcordanceComparison, ConcordanceResult, compare_concordance, concordance_index
from .weighted_concordance import WeightedConcordanceResult, weighted_concordance
from .tdroc import TimeROC, time_dependent_auc, time_dependent_roc
# calibration and prediction error
from .calibration import CalibrationResult, CalibrationTest, calibration_curve
from .calibration_metrics import CalibrationMetrics, calibration_metrics
from .brier import brier_score, integrated_brier_score
from .prediction_performance import PredictionPerformance, prediction_performance
# transport of a model to new patients (external validation, model updating)
from .transport import (BaselineUpdate, CalibrationSlope, ObservedExpected, PoissonCalibration,
                        calibration_slope, observed_expected, poisson_calibration, update_baseline)
# clinical usefulness, nomogram
from .decision_curve import decision_curve
from .nomogram import DataDist, Nomogram, datadist, r_pretty
# tables for the book
from .capture import attempt, quietly
# percentile bootstrap CI of any metric over patients (predictions held fixed)
from .bootstrap import BootstrapCI, percentile_bootstrap_ci
