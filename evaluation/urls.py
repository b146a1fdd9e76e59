from django.urls import path

from evaluation import views

app_name = "evaluation"

urlpatterns = [
    path("", views.run_list, name="list"),
    path("new/", views.run_new, name="new"),
    path("new/estimate/", views.run_estimate, name="estimate"),
    path("<int:run_id>/", views.run_detail, name="detail"),
    path("<int:run_id>/cancel/", views.run_cancel, name="cancel"),
    path("<int:run_id>/resume/", views.run_resume, name="resume"),
    path("<int:run_id>/similar/", views.run_similar, name="similar"),
    path("<int:run_id>/vote/", views.run_vote, name="vote"),
    path("<int:run_id>/export.<str:extension>", views.run_export, name="export"),
    path("job/<int:job_id>/scorecard/", views.job_scorecard, name="job_scorecard"),
]
