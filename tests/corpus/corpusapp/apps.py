from django.apps import AppConfig


class CorpusAppConfig(AppConfig):
    name = "corpusapp"
    default_auto_field = "django.db.models.BigAutoField"
