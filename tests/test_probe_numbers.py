"""The probe's own mean and median (numbers.fmean / numbers.median) are the statistics
module's, which `check` no longer imports."""

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trainlint.probe.numbers import fmean, median

FLOATS = st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12), min_size=1)


@given(FLOATS)
def test_fmean_is_statistics_fmean(values):
    assert fmean(iter(values)) == pytest.approx(statistics.fmean(values), rel=1e-12, abs=1e-12)


@given(FLOATS)
def test_median_is_statistics_median(values):
    assert median(values) == statistics.median(values)


def test_no_values_is_an_error():
    with pytest.raises(ValueError):
        fmean([])
    with pytest.raises(ValueError):
        median([])


def test_check_does_not_import_statistics_or_the_probe_schema(tmp_path):
    """The catalog of a `check` loads the runtime rules; their measurement code waits for a probe."""
    import subprocess
    import sys

    code = ("import sys; from trainlint.engine import Engine; rules = Engine().rules; "
            "print('TL903' in rules, sorted(m for m in ('statistics', 'trainlint.probe.schema') if m in sys.modules))")
    # outside the checkout, whose trainlint/ has no rules/ mapped into it
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out.strip() == "True []"
