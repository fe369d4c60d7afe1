"""The patients' streams of a cohort, derived for many patients at once.

A patient's streams are numpy :class:`~numpy.random.SeedSequence` objects of entropy
the cohort seed and spawn key ``(stream, patient)``. Building one costs about 10 µs,
more than the rest of drawing a patient's parameters; :func:`seed_states` computes
the words ``SeedSequence(seed, spawn_key=(stream, p)).generate_state(n, np.uint64)``
of many patients with array operations instead, by the same algorithm (O'Neill's
``seed_seq_fe``, numpy's ``bit_generator.pyx``, whose output numpy keeps stable), and
:func:`rng_from_state` turns four words into the generator ``np.random.default_rng``
makes of that seed sequence. Tests check them against numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from numpy.random.bit_generator import ISeedSequence
from numpy.typing import NDArray

UIntArray = NDArray[np.uint64]

#: numpy's SeedSequence constants.
_POOL_SIZE = 4
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_MASK = 0xFFFFFFFF


def seed_states(seed: int, stream: int, patients: Sequence[int], n_words: int) -> UIntArray:
    """(patients, n_words) uint64: ``generate_state(n_words, np.uint64)`` of each patient.

    Patient ``p``'s row equals ``np.random.SeedSequence(seed, spawn_key=(stream, p))
    .generate_state(n_words, np.uint64)``. ``seed``, ``stream`` and every patient must
    be non-negative ints (numpy's own checks apply otherwise).
    """
    out = np.empty((len(patients), n_words), dtype=np.uint64)
    if not all(type(x) is int and x >= 0 for x in (seed, stream, *patients)):
        for row, p in enumerate(patients):  # numpy says what is wrong
            out[row] = np.random.SeedSequence(seed, spawn_key=(stream, p)).generate_state(
                n_words, np.uint64)
        return out
    # The entropy is the seed's words (at least the pool's four), the stream's, the
    # patient's: all but the patient's are the same for every patient, so the pool is
    # mixed as far as them once, in plain ints.
    hash_const = [_INIT_A]
    run = _words(seed)
    run += [0] * (_POOL_SIZE - len(run))
    pool = [_hashmix(word, hash_const) for word in run[:_POOL_SIZE]]
    for src in range(_POOL_SIZE):
        for dst in range(_POOL_SIZE):
            if src != dst:
                pool[dst] = _mix(pool[dst], _hashmix(pool[src], hash_const))
    for word in [*run[_POOL_SIZE:], *_words(stream)]:
        for dst in range(_POOL_SIZE):
            pool[dst] = _mix(pool[dst], _hashmix(word, hash_const))
    lengths = np.array([_n_words(p) for p in patients], dtype=np.int64)
    for length in np.unique(lengths):  # patients of as many 32-bit words together
        rows = np.flatnonzero(lengths == length)
        columns = [np.full(len(rows), word, dtype=np.uint32) for word in pool]
        constant = list(hash_const)
        for k in range(int(length)):
            words = np.array([(patients[int(r)] >> (32 * k)) & _MASK for r in rows],
                             dtype=np.uint32)
            for dst in range(_POOL_SIZE):
                columns[dst] = _mix_array(columns[dst], _hashmix_array(words, constant))
        state = _generate(columns, 2 * n_words)
        low, high = state[0::2].astype(np.uint64), state[1::2].astype(np.uint64)
        out[rows] = (low | (high << np.uint64(32))).T
    return out


class _Words(ISeedSequence):
    """A seed sequence whose state is known: the words a generator asks for."""

    def __init__(self, words: UIntArray) -> None:
        self.words = words

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> NDArray[np.uint64]:
        assert n_words == len(self.words) and np.dtype(dtype) == np.uint64
        return self.words


def rng_from_state(words: UIntArray) -> np.random.Generator:
    """``np.random.default_rng(sequence)`` from ``sequence.generate_state(4, np.uint64)``."""
    # numpy takes any ISeedSequence (its stubs name SeedSequence only).
    return np.random.Generator(np.random.PCG64(cast(Any, _Words(words))))


def _n_words(value: int) -> int:
    return max(1, -(-value.bit_length() // 32))


def _words(value: int) -> list[int]:
    """The 32-bit words of a non-negative int, least significant first (0 is [0])."""
    return [(value >> (32 * k)) & _MASK for k in range(_n_words(value))]


def _hashmix(value: int, hash_const: list[int]) -> int:
    value ^= hash_const[0]
    hash_const[0] = (hash_const[0] * _MULT_A) & _MASK
    value = (value * hash_const[0]) & _MASK
    return value ^ (value >> 16)


def _mix(x: int, y: int) -> int:
    result = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _MASK
    return result ^ (result >> 16)


def _hashmix_array(value: NDArray[np.uint32], hash_const: list[int]) -> NDArray[np.uint32]:
    value = value ^ np.uint32(hash_const[0])
    hash_const[0] = (hash_const[0] * _MULT_A) & _MASK
    value = value * np.uint32(hash_const[0])
    return value ^ (value >> np.uint32(16))


def _mix_array(x: NDArray[np.uint32], y: NDArray[np.uint32]) -> NDArray[np.uint32]:
    result: NDArray[np.uint32] = x * np.uint32(_MIX_MULT_L) - y * np.uint32(_MIX_MULT_R)
    return result ^ (result >> np.uint32(16))


def _generate(pool: list[NDArray[np.uint32]], n_words: int) -> NDArray[np.uint32]:
    """(n_words, columns) uint32 words of the pools (numpy's ``generate_state``)."""
    hash_const = _INIT_B
    out = np.empty((n_words, len(pool[0])), dtype=np.uint32)
    for i in range(n_words):
        value = pool[i % _POOL_SIZE] ^ np.uint32(hash_const)
        hash_const = (hash_const * _MULT_B) & _MASK
        value = value * np.uint32(hash_const)
        out[i] = value ^ (value >> np.uint32(16))
    return out
