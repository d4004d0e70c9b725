"""Tests against a real Airflow deployment (a package, so its conftest does not shadow tests/conftest.py)."""
