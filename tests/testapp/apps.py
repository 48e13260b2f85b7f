from django.apps import AppConfig


class TestAppConfig(AppConfig):
    """Orders for the tests to export: every field type an export must carry losslessly."""

    name = "tests.testapp"
    label = "testapp"
    verbose_name = "Test shop"
