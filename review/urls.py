from django.urls import path

from review import views

app_name = "review"

urlpatterns = [
    path("settings/", views.review_settings_view, name="settings"),
    path("v/<int:version_id>/", views.review_queue, name="queue"),
    path("for-version/<int:version_id>/", views.review_for_version, name="for_version"),
    path("v/<int:version_id>/start/", views.review_start_view, name="start"),
    path("v/<int:version_id>/bulk/", views.review_bulk, name="bulk"),
    path("v/<int:version_id>/bulk/progress/", views.review_bulk_progress, name="bulk_progress"),
    path("v/<int:version_id>/summary/", views.review_summary, name="summary"),
    path("v/<int:version_id>/freeze/", views.review_freeze_view, name="freeze"),
    path("example/<int:example_id>/decide/", views.example_decide_view, name="decide"),
    path("example/<int:example_id>/comment/", views.example_comment_view, name="comment"),
    path("example/<int:example_id>/settle/", views.example_settle_view, name="settle"),
    path("example/<int:example_id>/fix/", views.example_fix_view, name="fix"),
    path("example/<int:example_id>/fix/check/", views.example_fix_check, name="fix_check"),
]
