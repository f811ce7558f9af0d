"""hypothesis settings profiles for the property tests in this folder.

``HYPOTHESIS_PROFILE`` picks one: ``ci`` (the default under CI=true: few examples, the whole
folder in well under 90 s on a shared 2-core machine), ``dev`` (the default elsewhere), or
``deep`` (thousands of examples per property, for a fuzzing session by hand). Deadlines are
generous on purpose: the hangs these tests guard against took minutes, while a loaded CI
machine can stall any example for a second.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": timedelta(seconds=5), "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}

settings.register_profile("ci", max_examples=60, derandomize=True, database=None, **_COMMON)
settings.register_profile("dev", max_examples=200, **_COMMON)
settings.register_profile("deep", max_examples=5_000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI") == "true" else "dev"))
