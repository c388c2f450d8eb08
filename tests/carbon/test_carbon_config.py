import csv
from importlib import resources

import pytest

from greenai.carbon import CarbonConfig, lookup_country
from greenai.errors import UsageError

NZL_G = 112.758  # grid_carbon_intensity.csv, New Zealand 2023
FRA_G = 56.039


def test_shipped_table_equals_the_shared_reference():
    shipped = (
        resources.files("greenai").joinpath("reference", "grid_carbon_intensity.csv").read_text()
    )
    rows = list(csv.DictReader(shipped.splitlines()))
    assert len(rows) == 213
    nz = next(r for r in rows if r["iso3"] == "NZL")
    assert float(nz["g_co2e_per_kwh"]) == NZL_G


def test_defaults_are_the_world_average_said_so():
    cfg = CarbonConfig.resolve(env={})
    assert cfg.g_per_kwh == 475.0 and cfg.pue == 1.0
    assert (
        "world average" in cfg.intensity.source and "no country configured" in cfg.intensity.source
    )
    assert cfg.intensity.country_iso3 is None


@pytest.mark.parametrize("code", ["NZL", "nzl", "NZ", "nz"])
def test_iso3_and_iso2_codes(code):
    cfg = CarbonConfig.resolve(country=code, env={})
    assert cfg.g_per_kwh == NZL_G
    assert cfg.intensity.country_iso3 == "NZL" and cfg.intensity.country_name == "New Zealand"
    assert "NZL" in cfg.intensity.source and "Our World in Data" in cfg.intensity.source


def test_flags_beat_environment_which_beats_defaults():
    env = {"GREENAI_COUNTRY": "FRA", "GREENAI_PUE": "1.5", "GREENAI_INTENSITY": ""}
    from_env = CarbonConfig.resolve(env=env)
    assert (from_env.g_per_kwh, from_env.pue) == (FRA_G, 1.5)
    flags = CarbonConfig.resolve(country="NZ", pue=1.1, env=env)
    assert (flags.g_per_kwh, flags.pue) == (NZL_G, 1.1)
    # a country flag beats an intensity from the environment
    assert CarbonConfig.resolve(country="NZ", env={"GREENAI_INTENSITY": "999"}).g_per_kwh == NZL_G
    # the environment's intensity beats the environment's country
    both = CarbonConfig.resolve(env={"GREENAI_COUNTRY": "FRA", "GREENAI_INTENSITY": "300"})
    assert both.g_per_kwh == 300.0 and "GREENAI_INTENSITY" in both.intensity.source
    assert both.intensity.country_iso3 == "FRA"


def test_intensity_flag_overrides_country_and_says_so():
    cfg = CarbonConfig.resolve(country="FR", intensity_g_per_kwh=20, env={})
    assert cfg.g_per_kwh == 20.0
    assert "given by --intensity" in cfg.intensity.source and "FRA" in cfg.intensity.source


def test_co2_arithmetic():
    cfg = CarbonConfig.resolve(intensity_g_per_kwh=400, pue=1.25, env={})
    # 7.2e6 J = 2 kWh; × 1.25 PUE × 400 g/kWh = 1000 g = 1 kg
    assert cfg.co2_kg(7.2e6) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"country": "ZZZ"}, "unknown country code 'ZZZ'"),
        ({"country": "New Zealand"}, "not an ISO 3166"),
        ({"pue": -1}, "PUE"),
        ({"pue": 0.9}, "PUE"),
        ({"pue": "abc"}, "must be a number"),
        ({"intensity_g_per_kwh": -5}, "intensity"),
        ({"intensity_g_per_kwh": float("nan")}, "intensity"),
        ({"env": {"GREENAI_PUE": "-2"}}, "GREENAI_PUE"),
        ({"env": {"GREENAI_COUNTRY": "XX"}}, "unknown country code 'XX'"),
    ],
)
def test_bad_input_is_one_usage_error_line(kwargs, message):
    kwargs.setdefault("env", {})
    with pytest.raises(UsageError, match=message) as info:
        CarbonConfig.resolve(**kwargs)
    assert "\n" not in str(info.value)


def test_lookup_returns_table_row():
    row = lookup_country("fr")
    assert (row.iso3, row.iso2, row.year, row.g_per_kwh) == ("FRA", "FR", 2023, FRA_G)
