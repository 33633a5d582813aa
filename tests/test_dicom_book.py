"""The smoke book on a cohort imported from DICOM (slow: a 60-patient export, import, and the chapters that read the files).

The smoke twin is written as a DICOM export (each sequence's own tumour ROI
drawn on its own series), imported with ``npc import-dicom``, its clinical
table completed from the twin's (through the report's id mapping, as a user
adds their outcomes), validated, and the smoke profile's chapters executed on it up
to preprocessing (the chapters that read the imported images and masks; the later
ones read those chapters' results, and run on any valid cohort in
``test_notebooks``).
"""

from __future__ import annotations

import json
from collections import namedtuple

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import dicom_factory as f
from npc_lib.cli import main
from npc_lib.cohort import schema

Image = namedtuple("Image", "image mask affine")
RULES = {"sequences": {"T1": ["t1(?!.*(gd|post))"], "T2": ["t2"], "T1C": [r"post|gd|\+c"]},
         "roi": {"T1": ["^gtv_t1$"], "T2": ["^gtv_t2$"], "T1C": ["^gtv_t1c$"]}}


@pytest.mark.slow
def test_smoke_book_on_imported_cohort(tmp_path):
    import yaml

    from npc_lib.runners.book import run_chapters
    from npc_lib.twin.simulate import simulate_cohort

    twin = simulate_cohort(tmp_path / "twin", n=60, seed=0, progress=False)
    clinical = pd.read_csv(twin / schema.CLINICAL_FILE)
    dicom_ids = {}
    for i, pid in enumerate(clinical["patient_id"], start=1):
        images = {}
        for seq in schema.SEQUENCES:
            img = nib.load(twin / schema.image_relpath(pid, seq))
            roi = nib.load(twin / schema.roi_relpath(pid, seq))
            images[seq] = Image(np.asarray(img.dataobj), np.asarray(roi.dataobj), img.affine)
        f.write_patient_export(tmp_path / "export" / f"x{i}", i, images=images, own_rois=True)
        dicom_ids[f.IDENTIFIERS["PatientID"].format(i=i)] = pid
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(RULES))
    cohort = tmp_path / "imported"
    assert main(["-q", "import-dicom", str(tmp_path / "export"), "--out", str(cohort), "--rules", str(rules)]) == 0
    # the user adds what the headers do not hold, by the report's mapping
    report = json.loads((tmp_path / "imported.import-report.json").read_text())
    to_twin = {p["patient_id"]: dicom_ids[p["dicom_patient_id"]] for p in report["patients"]}
    table = pd.read_csv(cohort / schema.CLINICAL_FILE)
    source = clinical.set_index("patient_id").loc[[to_twin[p] for p in table["patient_id"]]]
    for col in schema.CLINICAL_COLUMNS[1:]:
        if col not in ("age", "sex", "scanner"):
            table[col] = source[col].to_numpy()
    table.to_csv(cohort / schema.CLINICAL_FILE, index=False)
    assert main(["validate", str(cohort)]) == 0
    # the chapters that read the imported files (cohort checks, Table 1, the images and masks into
    # training's boxes); chapter 04 onwards read those chapters' results, not the files
    run = run_chapters("smoke", cohort=cohort, out=tmp_path / "run", only=["03_preprocessing"], progress=False)
    cohort_results = json.loads((run / "01_cohort" / "metrics.json").read_text())
    assert cohort_results["n"] == len(clinical)
    assert (run / "03_preprocessing" / ".stamp").is_file()
