import pytest


@pytest.fixture(autouse=True)
def immediate(committed_jobs, settings):
    """Jobs the admin starts run to their end before it answers."""
    settings.STREAM_EXPORTS = {"JOB_RUNNER": "stream_exports.runners.ImmediateRunner"}
