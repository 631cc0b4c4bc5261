"""Helpers the tests, the benchmarks and the chaos run share (import them as ``tests.support``
from the repository root): worker processes for the contract tests, generated test media."""
