"""Hikvision's LTS families: which product lines the support policy covers (pure).

A model's family is found from its canonical key (`bot.models.normalize_model`); where the
family is unclear the answer says so (``inferred``) rather than pretending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from bot.models import normalize_model


@dataclass(frozen=True)
class Family:
    """A product family and whether Hikvision's LTS policy covers it."""

    name: str
    covered: bool
    inferred: bool
    reason: str


def _rule(
    regex: str, name: str, covered: bool, inferred: bool, reason: str
) -> tuple[re.Pattern[str], Family]:
    return re.compile(regex), Family(name, covered, inferred, reason)


_NAMED = "named in Hikvision's LTS policy"
_NOT_NAMED = "not in the LTS policy's covered families"
_FAMILIES = (
    # HikCentral (Professional, -P, VMS) is the VMS the policy names; other HikCentral products
    # (Master Lite, FocSign, Access Control, …) are taken as part of it, and say so.
    _rule(r"HIK-?CENTRAL(?:-?(?:PROFESSIONAL|PRO|P|VMS))?(?:$|[^A-Z]|V\d)", "HikCentral VMS",
          True, False, f"HikCentral VMS is {_NAMED}."),
    _rule(r"HIK-?CENTRAL", "HikCentral VMS", True, True,
          f"HikCentral VMS is {_NAMED}; this HikCentral product is taken to be part of it, "
          "so coverage is inferred."),
    _rule(r"IDS-\d{4,5}NXI", "DeepinMind NVRs", True, False,
          f"iDS-…NXI… DeepinMind NVRs are {_NAMED}."),
    *(_rule(rf"IDS-2CD{d}", f"DS-2CD{d}xxx network cameras", True, True,
            f"iDS-2CD{d}xxx is read as a DeepinView variant of the DS-2CD{d}xxx cameras {_NAMED}, "
            "so coverage is inferred.") for d in "357"),
    _rule(r"IDS-2DF", "DS-2DFxxx PTZ cameras", True, True,
          f"iDS-2DF… is read as a variant of the DS-2DFxxx PTZ cameras {_NAMED}, "
          "so coverage is inferred."),
    _rule(r"IDS-", "iDS- AI products", False, True,
          "This iDS- product is neither a DeepinMind NVR nor a variant of a named camera line, "
          "so it is inferred to be outside the LTS policy."),
    *(_rule(rf"DS-2CD{d}", f"DS-2CD{d}xxx network cameras", d in "357", False,
            f"DS-2CD{d}xxx network cameras are {_NAMED if d in '357' else _NOT_NAMED}.")
      for d in "0123456789"),
    _rule(r"DS-2DF", "DS-2DFxxx PTZ cameras", True, False,
          f"DS-2DFxxx PTZ cameras (DeepinView, Ultra and Smart series) are {_NAMED}."),
    _rule(r"DS-2DE", "DS-2DE PTZ cameras", False, False, f"DS-2DE PTZ cameras are {_NOT_NAMED}."),
    _rule(r"DS-2TD", "DS-2TD thermal cameras", False, False,
          f"DS-2TD thermal cameras are {_NOT_NAMED}."),
    _rule(r"DS-96\d{3}NI-I\d*(?:[-/(]|\Z)", "96000NI-I series NVRs", True, False,
          f"96000NI-I series NVRs (DS-96xxxNI-I…) are {_NAMED}."),
    _rule(r"DS-(?:76|77|96)\d{2}NI-I\d*(?:[-/(]|\Z)", "I-series NVRs", True, False,
          f"I-series NVRs (DS-76xxNI-I…, DS-77xxNI-I…, DS-96xxNI-I…) are {_NAMED}."),
    _rule(r"DS-(?:76|77|96)\d{2,3}NXI-I", "I-series NVRs", True, True,
          "An NXI-I recorder without the iDS- prefix is an AcuSense I-series NVR rather than a "
          "DeepinMind one, so its coverage as an I-series NVR is inferred."),
    _rule(r"DS-96\d{3}[A-Z]*-I", "96000NI-I series NVRs", True, True,
          "The name reads as a 96000NI-I series NVR with extra letters, so coverage is inferred."),
    _rule(r"DS-(?:76|77|96)\d{2}[A-Z]*-I", "I-series NVRs", True, True,
          "The name reads as an I-series NVR with extra letters, so coverage is inferred."),
    _rule(r"DS-(?:76|77|96)\d{2,3}NXI", "AcuSense NVRs", False, True,
          "An NXI recorder without the iDS- prefix is an AcuSense NVR, not a DeepinMind one, "
          "and not I-series, so it is inferred to be outside the LTS policy."),
    _rule(r"DS-[79]\d{3}", "DS-7xxx/9xxx recorders outside the I-series", False, False,
          "Of the DS-7xxx/9xxx recorders only the I-series and 96000NI-I series NVRs are named "
          "in the LTS policy."),
    _rule(r"DS-86", "DS-86 NVRs", False, False, f"DS-86 NVRs are {_NOT_NAMED}."),
    _rule(r"DS-3E", "DS-3E switches", False, False, f"DS-3E switches are {_NOT_NAMED}."),
    _rule(r"DS-A[78]", "DS-A7/A8 storage", False, False, f"DS-A7/A8 storage is {_NOT_NAMED}."),
    _rule(r"DS-K1T", "DS-K1T access control", False, False,
          f"DS-K1T access control terminals are {_NOT_NAMED}."),
)
_UNKNOWN = Family("unrecognised", False, True,
                  "The model matches none of the families the LTS policy names, "
                  "so it is inferred to be outside it.")


def family_of(model: str) -> Family:
    """Return the LTS family of a model (raises ModelError for a malformed model)."""
    return _family(normalize_model(model))


@lru_cache(maxsize=1 << 16)
def _family(key: str) -> Family:
    return next((fam for regex, fam in _FAMILIES if regex.match(key)), _UNKNOWN)
