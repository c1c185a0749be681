"""Options checked once, before any frame is read, with errors that name the option.

Numbers (`as_number`, `quantity_value`), the working precision (`parse_dtype`), and the memory
budget (`parse_mem_limit`); `named` puts the public function's name before an option's
error.  The rejection's options are parsed in `rejection.parse_clip`, the source detection's
in `sky.parse_detection`.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
from astropy import units as u


def as_number(value, name, *, allow_none=False, minimum=None, strict=False):
    """Return ``value`` as a finite float, with a TypeError/ValueError naming ``name``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    below = minimum is not None and (value <= minimum if strict else value < minimum)
    if not math.isfinite(value) or below:
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {relation} {minimum}, got {value!r}")
    return value


def as_whole(value, name, minimum):
    """Return ``value``, an int or numpy integer of at least ``minimum``, as an int.

    The one rule for every whole-number option, as Python's own ``range`` applies it:
    TypeError for a value that is not an integer (a bool, a string, or a float, even 64.0,
    which is never truncated silently); ValueError for an integer below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number (an int), got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def parse_dtype(dtype):
    """Return ``dtype`` as numpy float32 or float64, else raise ValueError."""
    try:
        dtype = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from err
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def quantity_value(value, unit, name):
    """Return ``value`` (a number or an astropy Quantity) as a float in ``unit``."""
    if isinstance(value, u.Quantity):
        try:
            return float(value.to_value(unit))
        except u.UnitConversionError as err:
            raise ValueError(f"{name} must be in {unit}, got {value.unit}") from err
    return value


def parse_mem_limit(mem_limit):
    """Return ``mem_limit`` as a positive float number of bytes, else raise."""
    return as_number(mem_limit, "mem_limit", minimum=0, strict=True)


@contextmanager
def named(function):
    """Put the name of the public ``function`` before the message of an option's error.

    A ValueError or TypeError raised in the block is raised again, of the same class,
    as ``"<function>: <message>"``, so that the user reads which call refused what.
    """
    try:
        yield
    except (ValueError, TypeError) as err:
        raise type(err)(f"{function}: {err}") from err
