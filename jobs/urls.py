from django.urls import path

from jobs import views

app_name = "jobs"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("new/", views.job_new, name="new"),
    path("new/models/", views.job_new_models, name="new_models"),
    path("new/estimate/", views.job_new_estimate, name="new_estimate"),
    path("curves/", views.job_curves, name="curves"),
    path("move/", views.jobs_move, name="move"),
    path("<int:job_id>/", views.job_detail, name="detail"),
    path("<int:job_id>/cancel/", views.job_cancel, name="cancel"),
    path("for-version/<int:version_id>/", views.jobs_for_version, name="for_version"),
]
