from django.urls import path

from providers import views

app_name = "providers"

urlpatterns = [
    path("", views.connection_list, name="list"),
    path("add/", views.connection_add, name="add"),
    path("<int:connection_id>/edit/", views.connection_edit, name="edit"),
    path("<int:connection_id>/delete/", views.connection_delete, name="delete"),
    path("<int:connection_id>/test/", views.connection_test, name="test"),
]
