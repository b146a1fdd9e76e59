from django.urls import path

from datasets_app import views

app_name = "datasets"

urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("upload/", views.dataset_upload_view, name="upload"),
    path("<int:dataset_id>/", views.dataset_detail, name="detail"),
    path("<int:dataset_id>/upload/", views.dataset_upload_view, name="upload_version"),
    path("<int:dataset_id>/delete/", views.dataset_delete_view, name="delete"),
    path("<int:dataset_id>/diff/", views.dataset_diff, name="diff"),
    path("<int:dataset_id>/v/<int:number>/", views.version_detail, name="version"),
    path("<int:dataset_id>/v/<int:number>/progress/", views.version_progress, name="progress"),
    path("<int:dataset_id>/v/<int:number>/examples/", views.version_examples, name="examples"),
    path("<int:dataset_id>/v/<int:number>/split/", views.version_split, name="split"),
    path("<int:dataset_id>/v/<int:number>/file/<str:which>/", views.version_file, name="file"),
    path("<int:dataset_id>/v/<int:number>/export/<slug:fmt>/", views.version_export, name="export"),
]
