"""Tests of `_flat_engine.stack`: the memory plan, on seeded synthetic data."""

import numpy as np
import pytest

from _flat_engine import stack


def test_plan_memory_fits_the_limit_and_reports_the_minimum():
    dtype = np.dtype(np.float32)
    plan = stack.plan_memory((4096, 4096), 10, dtype, 350e6)
    assert plan.frame_workers == 2
    assert plan.block_workers == 2
    assert 1 <= plan.rows <= 64
    with pytest.raises(ValueError, match=r"at least 2\.0\d*e\+08 bytes"):
        stack.plan_memory((4096, 4096), 10, dtype, 150e6)
    small = stack.plan_memory((4096, 4096), 10, dtype, 210e6)
    assert small.frame_workers == 1
