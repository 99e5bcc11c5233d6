"""Test helpers for the security tests.

``cheap_argon2`` swaps the staff password hasher for the same argon2id with the smallest
cost parameters: production hashing costs about 0.2 s per hash, which would dominate these
tests. The code under test is unchanged; only the work factor is lower. tests/conftest.py
imports it, so it applies to every test."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from kiosk import staff


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(staff, "_hasher", hasher)
    monkeypatch.setattr(staff, "_DUMMY_HASH", hasher.hash("not-a-real-password"))
