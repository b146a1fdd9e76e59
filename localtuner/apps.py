from django.apps import AppConfig


class LocaltunerConfig(AppConfig):
    name = "localtuner"
    verbose_name = "Local provider"
