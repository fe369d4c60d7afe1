"""The published works the catalogs cite.

Each constant is a :class:`~metacascade.citations.Citation` without a location;
catalog modules point into it with :meth:`Citation.at`. Figures come from
``shared/data/REFERENCE_VALUES.md``; "abstract" marks a figure read only in an
abstract. Authors, years and venues follow that file; a work whose authors it lacks
is cited by its title (the 2003 lung metastases paper). The titles were checked on
2026-11-22 against the publishers', PubMed's or an index's pages (27 of 31 as written;
three were mended: the 2003 lung metastases paper's, Bloom's subtitle, Skipper's
quotation marks). De Bono 2008's title could not be seen; ICRP 89's, Fidler's,
Koop's and Allard's only in reference lists or index records.
"""

from __future__ import annotations

from metacascade.citations import Citation

ICRP89 = Citation(
    "icrp89", "ICRP", 2002,
    "Basic anatomical and physiological data for use in radiological protection: "
    "reference values", "ICRP Publication 89, Ann ICRP 32(3-4)",
)
BUTLER_GULLINO_1975 = Citation(
    "butler1975", "Butler TP, Gullino PM", 1975,
    "Quantitation of cell shedding into efferent blood of mammary adenocarcinoma",
    "Cancer Res 35:512", where="abstract",
)
MENG_2004 = Citation(
    "meng2004", "Meng S, et al.", 2004,
    "Circulating tumor cells in patients with breast cancer dormancy",
    "Clin Cancer Res 10:8152", where="abstract",
)
ACETO_2014 = Citation(
    "aceto2014", "Aceto N, et al.", 2014,
    "Circulating tumor cell clusters are oligoclonal precursors of breast cancer "
    "metastasis", "Cell 158:1110", where="abstract",
)
MENDELAAR_2020 = Citation(
    "mendelaar2020", "Mendelaar PAJ, et al.", 2020,
    "Defining the dimensions of circulating tumor cells in a large series of breast, "
    "prostate, colon, and bladder cancer patients", "Mol Oncol", where="abstract",
)
ALLARD_2004 = Citation(
    "allard2004", "Allard WJ, et al.", 2004,
    "Tumor cells circulate in the peripheral blood of all major carcinomas but not in "
    "healthy subjects or patients with nonmalignant diseases",
    "Clin Cancer Res 10:6897", where="abstract",
)
CRISTOFANILLI_2004 = Citation(
    "cristofanilli2004", "Cristofanilli M, et al.", 2004,
    "Circulating tumor cells, disease progression, and survival in metastatic breast "
    "cancer", "N Engl J Med 351:781",
)
DEBONO_2008 = Citation(
    "debono2008", "de Bono JS, et al.", 2008,
    "Circulating tumor cells predict survival benefit from treatment in metastatic "
    "castration-resistant prostate cancer", "Clin Cancer Res 14:6302",
)
COHEN_2008 = Citation(
    "cohen2008", "Cohen SJ, et al.", 2008,
    "Relationship of circulating tumor cells to tumor response, progression-free "
    "survival, and overall survival in patients with metastatic colorectal cancer",
    "J Clin Oncol 26:3213",
)
PROCTOR_1976 = Citation(
    "proctor1976", "Proctor JW", 1976,
    'Rat sarcoma model supports both "soil seed" and "mechanical" theories of '
    "metastatic spread", "Br J Cancer 34:651", where="abstract",
)
CHAMBERS_2002 = Citation(
    "chambers2002", "Chambers AF, Groom AC, MacDonald IC", 2002,
    "Dissemination and growth of cancer cells in metastatic sites",
    "Nat Rev Cancer 2:563", where="key points",
)
FIDLER_1970 = Citation(
    "fidler1970", "Fidler IJ", 1970,
    "Metastasis: quantitative analysis of distribution and fate of tumor emboli "
    "labeled with 125I-5-iodo-2'-deoxyuridine", "J Natl Cancer Inst 45:773",
    where="abstract",
)
KOOP_1995 = Citation(
    "koop1995", "Koop S, et al.", 1995,
    "Fate of melanoma cells entering the microcirculation: over 80% survive and "
    "extravasate", "Cancer Res 55:2520", where="abstract",
)
FONT_CLOS_2020 = Citation(
    "fontclos2020", "Font-Clos F, Zapperi S, La Porta CAM", 2020,
    "Blood flow contributions to cancer metastasis", "iScience 23:101073",
)
DEL_MONTE_2009 = Citation(
    "delmonte2009", "Del Monte U", 2009,
    "Does the cell number 10^9 still really fit one gram of tumor tissue?",
    "Cell Cycle 8:505", where="abstract",
)
COUMANS_2013 = Citation(
    "coumans2013", "Coumans FAW, Siesling S, Terstappen LWMM", 2013,
    "Detection of cancer before distant metastasis", "BMC Cancer 13:283",
    where="supplement",
)
FINLAY_1988 = Citation(
    "finlay1988", "Finlay IG, Meek D, Brunton F, McArdle CS", 1988,
    "Growth rate of hepatic metastases in colorectal carcinoma", "Br J Surg 75:641",
    where="abstract",
)
PEER_1993 = Citation(
    "peer1993", "Peer PG, van Dijck JA, Hendriks JH, Holland R, Verbeek AL", 1993,
    "Age-dependent growth rate of primary breast cancer", "Cancer 71:3547",
    where="abstract",
)
HART_1998 = Citation(
    "hart1998", "Hart D, Shochat E, Agur Z", 1998,
    "The growth law of primary breast cancer as inferred from mammography screening "
    "trials data", "Br J Cancer 78:382", where="abstract",
)
BLOOM_1962 = Citation(
    "bloom1962", "Bloom HJG, Richardson WW, Harries EJ", 1962,
    "Natural history of untreated breast cancer (1805-1933): comparison of untreated and "
    "treated cases according to histological grade of malignancy",
    "Br Med J 2:213", where="abstract",
)
EISENHAUER_2009 = Citation(
    "eisenhauer2009", "Eisenhauer EA, Therasse P, Bogaerts J, et al.", 2009,
    "New response evaluation criteria in solid tumours: revised RECIST guideline "
    "(version 1.1)", "Eur J Cancer 45:228", where="guideline",
)
LUZZI_1998 = Citation(
    "luzzi1998", "Luzzi KJ, MacDonald IC, Schmidt EE, et al.", 1998,
    "Multistep nature of metastatic inefficiency: dormancy of solitary cells after "
    "successful extravasation and limited survival of early micrometastases",
    "Am J Pathol 153:865", where="abstract",
)
DISIBIO_2008 = Citation(
    "disibio2008", "diSibio G, French SW", 2008,
    "Metastatic patterns of cancers: results from a large autopsy study",
    "Arch Pathol Lab Med 132:931", where="Figure 1",
)
# Its authors are not in REFERENCE_VALUES.md and could not be confirmed from a source: it
# is cited by title. The abstract (insights.ovid.com/crossref?an=00000421-200308000-00014,
# the August 2003 issue, volume 26 number 4) gives the figures the lung catalog quotes:
# 408 nodules in 21 untreated patients, growing ones doubling in 118 +/- 134 d (22-930).
LUNG_METS_DOUBLING_2003 = Citation(
    "lungmets2003", "", 2003,
    "Pulmonary metastases tumor doubling time: assessment by computed tomography",
    "Am J Clin Oncol 26(4)", where="abstract",
)
WEISS_1992 = Citation(
    "weiss1992", "Weiss L", 1992,
    "Comments on hematogenous metastatic patterns in humans as revealed by autopsy",
    "Clin Exp Metastasis 10:191",
)
# Not in REFERENCE_VALUES.md: abstract read (gut.bmj.com/content/70/2/401; online first
# 2020 as gutjnl-2020-321040): 20 studies, 1374 HCC lesions, pooled tumour volume
# doubling time 4.6 months (95% CI 3.9-5.3), 35 % rapid (< 3 months), 37.6 % indolent
# (> 9 months); Asian studies 4.1, others 5.8 months.
NATHANI_2021 = Citation(
    "nathani2021",
    "Nathani P, Gopal P, Rich N, Yopp A, Yokoo T, John B, Marrero J, Parikh N, Singal AG",
    2021,
    "Hepatocellular carcinoma tumour volume doubling time: a systematic review and "
    "meta-analysis", "Gut 70:401", where="abstract",
)

# Clinic (imaging, liquid biopsy). Weedon-Fekjaer 2008 is the mammography row of
# REFERENCE_VALUES.md. The liver-imaging row ("liver imaging literature (abstract)") is
# Robinson 2000, whose abstract says: virtually all liver metastases >= 2 cm detected,
# most of 1-2 cm, about one-half of nodules < 1 cm. The PET row ("PET physics
# literature") is cited to an abstract that states 4-5 mm for clinical scanners
# (doi 10.4236/ijmpcero.2018.74045); a textbook source would be better.
WEEDON_FEKJAER_2008 = Citation(
    "weedonfekjaer2008",
    "Weedon-Fekjaer H, Lindqvist BH, Vatten LJ, Aalen OO, Tretli S", 2008,
    "Breast cancer tumor growth estimated through mammography screening data",
    "Breast Cancer Res 10:R41", where="abstract",
)
ROBINSON_2000 = Citation(
    "robinson2000", "Robinson PJ", 2000,
    "Imaging liver metastases: current limitations and future prospects",
    "Br J Radiol 73:234", where="abstract",
)
WANG_2018_PET = Citation(
    "wang2018pet", "Wang K", 2018,
    "Feasibility of high spatial resolution working modes for clinical PET scanner",
    "Int J Med Phys Clin Eng Radiat Oncol 7(4)", where="abstract",
)

SKIPPER_1964 = Citation(
    "skipper1964", "Skipper HE, Schabel FM Jr, Wilcox WS", 1964,
    "Experimental evaluation of potential anticancer agents. XIII. On the criteria and "
    "kinetics associated with 'curability' of experimental leukemia",
    "Cancer Chemother Rep 35:1",
)
GOLDIE_COLDMAN_1979 = Citation(
    "goldie1979", "Goldie JH, Coldman AJ", 1979,
    "A mathematic model for relating the drug sensitivity of tumors to their spontaneous "
    "mutation rate", "Cancer Treat Rep 63:1727",
)
LOCKMAN_2010 = Citation(
    "lockman2010", "Lockman PR, et al.", 2010,
    "Heterogeneous blood-tumor barrier permeability determines drug efficacy in "
    "experimental brain metastases of breast cancer", "Clin Cancer Res 16:5664",
    where="abstract",
)
SMERAGE_2014 = Citation(
    "smerage2014", "Smerage JB, et al.", 2014,
    "Circulating tumor cells and response to chemotherapy in metastatic breast cancer: "
    "SWOG S0500", "J Clin Oncol 32:3483", where="abstract",
)

ALL_REFERENCES: tuple[Citation, ...] = (
    ICRP89, BUTLER_GULLINO_1975, MENG_2004, ACETO_2014, MENDELAAR_2020, ALLARD_2004,
    CRISTOFANILLI_2004, DEBONO_2008, COHEN_2008, PROCTOR_1976, CHAMBERS_2002,
    FIDLER_1970, KOOP_1995, FONT_CLOS_2020, DEL_MONTE_2009, COUMANS_2013, FINLAY_1988,
    PEER_1993, HART_1998, DISIBIO_2008, LUNG_METS_DOUBLING_2003, WEISS_1992,
    NATHANI_2021, WEEDON_FEKJAER_2008, ROBINSON_2000, WANG_2018_PET, SKIPPER_1964,
    GOLDIE_COLDMAN_1979, LOCKMAN_2010, SMERAGE_2014, BLOOM_1962, EISENHAUER_2009,
    LUZZI_1998,
)
