"""Carbon accounting: offline grid intensity per country, PUE, and their resolution order."""

from greenai.carbon.config import DEFAULT_PUE, CarbonConfig
from greenai.carbon.intensity import (
    WORLD_AVERAGE_G_PER_KWH,
    WORLD_AVERAGE_SOURCE,
    CountryIntensity,
    lookup_country,
)

__all__ = [
    "DEFAULT_PUE",
    "WORLD_AVERAGE_G_PER_KWH",
    "WORLD_AVERAGE_SOURCE",
    "CarbonConfig",
    "CountryIntensity",
    "lookup_country",
]
