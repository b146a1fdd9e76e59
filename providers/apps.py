from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Providers and connections"

    def ready(self):
        from fineweb.accounts.services import TEAM_CREATED_HOOKS
        from providers.services import connection_ensure_local

        if connection_ensure_local not in TEAM_CREATED_HOOKS:
            TEAM_CREATED_HOOKS.append(connection_ensure_local)
