"""Comparing an optimizer with its NumPy transcription, step by step: the check that
every one-file optimizer of the suite (Bop2ndOrder's unbiased form, CEMA) passes."""
import numpy as np


def assert_same_steps(got, want, flips_after: int = 0):
    """Bit for bit: the weights, both moments and the reported flip count of every step.
    The transcription must flip some weight after its first ``flips_after`` steps, or the
    comparison says nothing about the flip rule (a first step may flip only because the
    weights start real-valued)."""
    for step, (a, b) in enumerate(zip(got, want, strict=True)):
        for name, x, y in zip(("w", "m", "v"), a[:3], b[:3]):
            np.testing.assert_array_equal(x, y, err_msg=f"{name}, step {step}")
        assert a[3] == b[3], f"flips at step {step}: optimizer says {a[3]}, rule gives {b[3]}"
    assert sum(s[3] for s in want[flips_after:]) > 0, "the test sequence must exercise flips"
