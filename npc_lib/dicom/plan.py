"""Decide, from the headers alone, what to import for one patient: study, series, structure set, ROIs.

The study
    The one a ``study:`` rule matches (StudyDescription or StudyID), else the
    one holding the series the structure set references, else the only study
    with MR series; anything else is an error asking for a ``study:`` rule.
The series
    Every MR series of that study whose SeriesDescription or ProtocolName
    matches a sequence's patterns **and** which is axial (slice normal within
    ``axial_max_angle`` of the head-foot axis) counts; a matching series of
    another orientation is left out with a note. No series, two series for one
    sequence, or one series for two sequences are errors.
The structure set and ROIs
    Among the patient's RTSTRUCTs, those with a ROI matching the rules; one on
    the MR series' frame of reference is preferred. Per sequence the first
    pattern that matches any ROI name wins; two ROIs matching it is an error.
    Contours on another frame of reference (the planning CT) are refused with
    the reason unless a spatial registration object maps that frame to the
    MR's.
"""

from __future__ import annotations

__all__ = ["PatientPlan", "plan_patient", "registration_transform"]

from dataclasses import dataclass, field

import numpy as np

from .problems import ProblemList
from .rtstruct import RoiContours, StructureSet, read_structure_set
from .rules import ImportRules, match_roi, match_sequences
from .scan import PatientFiles, Series, Study
from .series import SeriesGeometry, series_geometry

_OBLIQUE_NOTE_DEG = 0.5


@dataclass
class PatientPlan:
    """What will be read for one patient (see the module docstring for how it is chosen).

    ``rois[seq]``: the ROI rasterised on ``seq``'s grid; ``roi_source[seq]``:
    the series it was drawn on (None when that series is not in the folder);
    ``transforms[seq]``: a registration matrix (contour frame -> series frame)
    or None.
    """

    patient_id: str
    study: Study
    series: dict[str, Series]
    geometry: dict[str, SeriesGeometry]
    structure: StructureSet | None = None
    rois: dict[str, RoiContours] = field(default_factory=dict)
    roi_source: dict[str, Series | None] = field(default_factory=dict)
    transforms: dict[str, np.ndarray | None] = field(default_factory=dict)


def _check_patient(patient: PatientFiles) -> PatientFiles:
    if not patient.studies:
        raise ValueError(f"patient {patient.patient_id} has no study")
    return patient


def registration_transform(registrations, source_for: str, target_for: str) -> np.ndarray | None:
    """The 4x4 matrix mapping ``source_for`` coordinates into ``target_for`` from spatial registration objects.

    Each item of a registration's RegistrationSequence maps its frame of
    reference into the registration's own (identity for the latter); the
    first object that knows both frames gives ``inv(M_target) @ M_source``.
    """
    for inst in registrations:
        ds = inst.dataset
        mats = {str(ds.get("FrameOfReferenceUID", "")): np.eye(4)}
        for item in ds.get("RegistrationSequence", []):
            for reg in item.get("MatrixRegistrationSequence", []):
                for m in reg.get("MatrixSequence", []):
                    values = m.get("FrameOfReferenceTransformationMatrix")
                    if values is not None and len(values) == 16:
                        mats[str(item.get("FrameOfReferenceUID", ""))] = np.array(values, dtype=float).reshape(4, 4)
        if source_for in mats and target_for in mats:
            return np.linalg.inv(mats[target_for]) @ mats[source_for]
    return None


def _choose_study(patient: PatientFiles, rules: ImportRules, sets: list[StructureSet],
                  problems: ProblemList) -> Study | None:
    pid = patient.patient_id
    mr = [st for st in patient.studies.values() if any(s.modality == "MR" for s in st.series.values())]
    if not mr:
        problems.add("error", "no MR series in any study", patient=pid)
        return None
    if rules.study is not None:
        found = [st for st in mr if rules.study.search(st.description) or rules.study.search(st.study_id)]
        if len(found) != 1:
            listed = "; ".join(f"'{st.description}' (ID {st.study_id or '-'})" for st in mr)
            problems.add("error", f"the study rule '{rules.study.pattern}' matches {len(found)} of the {len(mr)} "
                         f"studies with MR series ({listed}); it must match one", patient=pid)
            return None
        return found[0]
    referenced = {uid for ss in sets for uid in ss.referenced_series}
    holding = [st for st in mr if referenced & set(st.series)]
    if len(holding) == 1:
        return holding[0]
    if len(holding) > 1:
        problems.add("error", f"the structure sets reference series of {len(holding)} studies: add a 'study:' rule "
                     "naming the one to import", patient=pid)
        return None
    if len(mr) == 1:
        return mr[0]
    problems.add("error", f"{len(mr)} studies with MR series and no structure set referencing one of them: add a "
                 "'study:' rule (a pattern of the StudyDescription or StudyID)", patient=pid)
    return None


def _choose_series(patient: PatientFiles, study: Study, rules: ImportRules, problems: ProblemList):
    pid = patient.patient_id
    found: dict[str, list[Series]] = {seq: [] for seq in rules.sequences}
    geometry: dict[str, SeriesGeometry] = {}
    not_axial = []
    for series in sorted(study.series.values(), key=lambda s: (s.number.zfill(8), s.uid)):
        if series.modality != "MR":
            continue
        seqs = match_sequences(rules, (series.description, series.protocol))
        if not seqs:
            continue
        geom = series_geometry(series, problems)
        if geom is None:
            continue
        if geom.angle > rules.axial_max_angle:
            not_axial.append(f"{series.label} ({geom.angle:.0f} deg from axial)")
            problems.add("note", f"matches {'/'.join(seqs)} but is not axial ({geom.angle:.1f} deg between its slice "
                         f"normal and the head-foot axis > {rules.axial_max_angle:g}): not used",
                         patient=pid, series=series.label, file=str(series.instances[0].path.parent))
            continue
        if len(seqs) > 1:
            problems.add("error", f"one series matches the rules of {' and '.join(seqs)}: make the patterns exclusive",
                         patient=pid, series=series.label, file=str(series.instances[0].path.parent))
            continue
        if geom.angle > _OBLIQUE_NOTE_DEG:
            problems.add("note", f"oblique by {geom.angle:.1f} deg: written with its own rotated affine, not resampled",
                         patient=pid, series=series.label)
        found[seqs[0]].append(series)
        geometry[series.uid] = geom
    chosen = {}
    for seq, candidates in found.items():
        if len(candidates) == 1:
            chosen[seq] = candidates[0]
        elif not candidates:
            mr = [s.label for s in study.series.values() if s.modality == "MR"]
            extra = f"; not axial: {', '.join(not_axial)}" if not_axial else ""
            problems.add("error", f"no axial series matches the {seq} rule {[p.pattern for p in rules.sequences[seq]]} "
                         f"(MR series of the study: {', '.join(sorted(mr)) or 'none'}{extra})", patient=pid)
        else:
            problems.add("error", f"{len(candidates)} series match the {seq} rule: "
                         f"{', '.join(s.label for s in candidates)}; make the pattern match one",
                         patient=pid, series=candidates[1].label, file=str(candidates[1].instances[0].path.parent))
    return chosen, {seq: geometry[s.uid] for seq, s in chosen.items()}


def _choose_structure(patient: PatientFiles, rules: ImportRules, sets: list[StructureSet], mr_for: set[str],
                      problems: ProblemList) -> StructureSet | None:
    pid = patient.patient_id
    if not sets:
        problems.add("error", "no RTSTRUCT (structure set) found for the patient", patient=pid)
        return None
    patterns = {p for seq in rules.sequences for p in rules.roi_patterns(seq)[1]}
    matching = [ss for ss in sets if match_roi(tuple(patterns), list(ss.rois))[0] is not None]
    if not matching:
        for ss in sets:
            problems.add("error", f"no ROI matches the roi rule {sorted(p.pattern for p in patterns)}; its ROIs: "
                         f"{sorted(ss.rois) or 'none'}", patient=pid, file=str(ss.path))
        return None
    same = [ss for ss in matching if ss.frame_of_reference in mr_for]
    pick = same if same else matching
    if len(pick) > 1:
        problems.add("error", f"{len(pick)} structure sets have a matching ROI "
                     f"({', '.join(ss.path.name for ss in pick)}): keep one in the folder",
                     patient=pid, file=str(pick[1].path))
        return None
    return pick[0]


def _roi_source(patient: PatientFiles, ss: StructureSet, roi: RoiContours) -> Series | None:
    by_sop = {i.sop_uid: s for s in patient.all_series().values() for i in s.instances}
    for sop in roi.referenced_sops:
        if sop in by_sop:
            return by_sop[sop]
    every = patient.all_series()
    for uid in sorted(ss.referenced_series):
        if uid in every:
            return every[uid]
    return None


def _choose_rois(patient: PatientFiles, plan: PatientPlan, rules: ImportRules, problems: ProblemList) -> None:
    pid, ss = patient.patient_id, plan.structure
    registrations = [r for st in patient.studies.values() for r in st.registrations]
    for seq, series in plan.series.items():
        drawn_for, patterns = rules.roi_patterns(seq)
        pattern, names = match_roi(patterns, list(ss.rois))
        if pattern is None:
            problems.add("error", f"no ROI for {seq} matches {[p.pattern for p in patterns]}; ROIs: {sorted(ss.rois)}",
                         patient=pid, file=str(ss.path))
            continue
        if len(names) > 1:
            problems.add("error", f"{len(names)} ROIs match the pattern '{pattern}': {names}; make it match one",
                         patient=pid, file=str(ss.path))
            continue
        roi = ss.rois[names[0]]
        if not roi.contours:
            problems.add("error", f"ROI '{roi.name}' has no closed contours", patient=pid, file=str(ss.path))
            continue
        source = _roi_source(patient, ss, roi)
        if source is None:
            problems.add("warning", f"ROI '{roi.name}' was drawn on a series that is not in the folder; its contours "
                         f"are mapped to {seq} through patient coordinates", patient=pid, series=series.label,
                         file=str(ss.path))
        transform = None
        roi_for = roi.frame_of_reference or ss.frame_of_reference
        if roi_for != series.frame_of_reference:
            transform = registration_transform(registrations, roi_for, series.frame_of_reference)
            if transform is None:
                problems.add("error", f"ROI '{roi.name}' is on another frame of reference than the MR series (drawn "
                             "on the planning CT?): refused, as its position on the MR is unknown; export the "
                             "contours drawn on the MR, or the spatial registration (REG) between the two",
                             patient=pid, series=series.label, file=str(ss.path))
                continue
            problems.add("note", f"ROI '{roi.name}' mapped from another frame of reference through a spatial "
                         "registration", patient=pid, series=series.label, file=str(ss.path))
        plan.rois[seq], plan.roi_source[seq], plan.transforms[seq] = roi, source, transform


def plan_patient(patient: PatientFiles, rules: ImportRules, problems: ProblemList) -> PatientPlan | None:
    """Choose a patient's study, series per sequence, structure set and ROIs (headers only).

    Returns None when an error was found (every error is in ``problems``).
    """
    _check_patient(patient)
    n_errors = len(problems.errors)
    rts = [i for st in patient.studies.values() for i in st.rtstructs]
    sets = [read_structure_set(i.dataset, i.path, patient.patient_id, problems) for i in rts]
    study = _choose_study(patient, rules, sets, problems)
    if study is None:
        return None
    series, geometry = _choose_series(patient, study, rules, problems)
    plan = PatientPlan(patient.patient_id, study, series, geometry)
    mr_for = {s.frame_of_reference for s in series.values()}
    plan.structure = _choose_structure(patient, rules, sets, mr_for, problems)
    if plan.structure is not None and series:
        _choose_rois(patient, plan, rules, problems)
    return plan if len(problems.errors) == n_errors else None
