"""Home Assistant custom integrations in this repository (for the test harness)."""
