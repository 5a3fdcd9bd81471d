"""Synthetic ERA5-like data with planted regimes: the built-in sample and the validation suite.

``sample()`` is the app's built-in sample (:mod:`.sample`); ``make_case(find_case(name))`` builds
one case of the validation suite: a named one (:mod:`.cases`, :mod:`.suite`) or a randomised
one, ``gen-SEED`` (:mod:`.generator`).
"""

from dsc_core.data.synthetic.cases import Case, make_case
from dsc_core.data.synthetic.generator import find_case, generated_case, generated_suite
from dsc_core.data.synthetic.sample import RANGES, VARIABLES, land_mask, regime_names, sample
from dsc_core.data.synthetic.suite import SUITE, half

__all__ = [
    "RANGES",
    "SUITE",
    "VARIABLES",
    "Case",
    "find_case",
    "generated_case",
    "generated_suite",
    "half",
    "land_mask",
    "make_case",
    "regime_names",
    "sample",
]
