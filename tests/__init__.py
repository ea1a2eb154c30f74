"""The project's tests. A package, so that tests and the benchmark import tests.support by name."""
