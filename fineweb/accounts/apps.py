from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "fineweb.accounts"
    label = "accounts"
    verbose_name = "Teams and accounts"
