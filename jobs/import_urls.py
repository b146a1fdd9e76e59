"""The "Import history" button's URLs, under the connection they import from (/connections/<id>/)."""

from django.urls import path

from jobs import import_views

app_name = "imports"

urlpatterns = [
    path("<int:connection_id>/import/", import_views.connection_import, name="start"),
    path("<int:connection_id>/import/status/", import_views.connection_import_status, name="status"),
]
