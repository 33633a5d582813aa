# survival statistics part A: Cox, stepwise, KM/log-rank/HR, risk groups, nomogram, bootstrap
from .bootstrap import BootstrapCindexResult, optimism_corrected_cindex
from .cox import CoxConvergenceWarning, CoxResult, fit_cox, univariate_cox
from .kaplan_meier import HazardRatioResult, LogrankResult, hazard_ratio, kaplan_meier, logrank_test
from .nomogram import DataDist, Nomogram, datadist, r_pretty
from .risk_groups import RiskCutoff, logrank_statistics
from .stepwise import StepwiseResult, stepwise_cox
# survival statistics part B: concordance, time-dependent ROC, calibration, decision curves
from .calibration import CalibrationResult, CalibrationTest, calibration_curve
from .concordance import ConcordanceComparison, ConcordanceResult, compare_concordance, concordance_index
from .decision_curve import decision_curve
from .tdroc import TimeROC, time_dependent_auc, time_dependent_roc
# secondary endpoints and subgroups by risk group (A16, A17)
from .endpoints import at_risk_table, compare_risk_groups, endpoint_table, km_curve_table
from .subgroups import InteractionTest, SubgroupAnalysis, interaction_test, subgroup_analysis, subgroup_hazard_ratios
# reviewers' metrics (issue 9): PH test, Uno's C, Brier/IPA/IBS, ICI/E50/E90
from .brier import brier_score, integrated_brier_score
from .calibration_metrics import CalibrationMetrics, calibration_metrics
from .proportional_hazards import ScaledSchoenfeld, proportional_hazards_test, scaled_schoenfeld_residuals
from .weighted_concordance import WeightedConcordanceResult, weighted_concordance
