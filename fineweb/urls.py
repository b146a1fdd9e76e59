from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from fineweb.accounts import views as account_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("team/", account_views.team_view, name="team"),
    path("team/add/", account_views.team_member_add_view, name="team_member_add"),
    path("team/<int:membership_id>/role/", account_views.team_member_role_view, name="team_member_role"),
    path(
        "team/<int:membership_id>/remove/", account_views.team_member_remove_view, name="team_member_remove"
    ),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the page links; the icon is an SVG in static/.
    path("favicon.ico", login_not_required(RedirectView.as_view(url=static("favicon.svg"), permanent=True))),
    path("datasets/", include("datasets_app.urls")),
    path("jobs/", include("jobs.urls")),
    path("review/", include("review.urls")),
    path("connections/", include("providers.urls")),
    path("connections/", include("jobs.import_urls")),  # a connection's "Import history"
    path("compare/", include("compare.urls")),
    path("evaluation/", include("evaluation.urls")),
    path("local/v1/", include("localtuner.urls")),
]
