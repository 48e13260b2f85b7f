"""The demo's settings, as ``make demo`` runs them."""

from stream_exports import checks


def test_the_demo_settings_pass_every_check(db):
    assert checks.check_settings() == []
    assert checks.check_jobs() == []
    assert checks.check_gzip() == []
    assert checks.check_datasets() == []
