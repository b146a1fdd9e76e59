app_name = "localtuner"

urlpatterns: list = []
