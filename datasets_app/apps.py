from django.apps import AppConfig


class DatasetsAppConfig(AppConfig):
    name = "datasets_app"
    verbose_name = "Datasets"

    def ready(self) -> None:
        from datasets_app.demo import demo_dataset_create
        from fineweb.accounts.management.commands.bootstrap_demo import DEMO_CONTENT_HOOKS

        if demo_dataset_create not in DEMO_CONTENT_HOOKS:
            DEMO_CONTENT_HOOKS.append(demo_dataset_create)
