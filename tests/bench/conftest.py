"""The benchmarks run real config entries: the integration tests' fixtures apply."""

from tests.integration.conftest import *  # noqa: F403
