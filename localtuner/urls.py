"""The OpenAI-compatible subset served under /local/v1/ (no trailing slashes, as OpenAI's paths)."""

from django.urls import path

from localtuner import views

app_name = "localtuner"

urlpatterns = [
    path("files", views.files, name="files"),
    path("files/<str:file_id>", views.file_detail, name="file"),
    path("files/<str:file_id>/content", views.file_content, name="file_content"),
    path("fine_tuning/jobs", views.jobs, name="jobs"),
    path("fine_tuning/jobs/<str:job_id>", views.job_detail, name="job"),
    path("fine_tuning/jobs/<str:job_id>/cancel", views.job_cancel, name="job_cancel"),
    path("fine_tuning/jobs/<str:job_id>/events", views.job_events, name="job_events"),
    path("fine_tuning/jobs/<str:job_id>/checkpoints", views.job_checkpoints, name="job_checkpoints"),
    path("models", views.models, name="models"),
    path("models/<path:model>", views.model_detail, name="model"),
    path("chat/completions", views.chat_completions, name="chat_completions"),
]
