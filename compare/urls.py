from django.urls import path

from compare import views

app_name = "compare"

urlpatterns = [
    path("", views.playground, name="playground"),
    path("history/", views.history, name="history"),
    path("leaderboard/", views.leaderboard, name="leaderboard"),
    path("<int:conversation_id>/", views.conversation_detail, name="detail"),
    path("<int:conversation_id>/turns/", views.turn_add, name="turn_add"),
    path("<int:conversation_id>/stop/", views.conversation_stop, name="stop"),
    path("<int:conversation_id>/vote/", views.vote, name="vote"),
    path("<int:conversation_id>/replies/<int:reply_id>/stream/", views.reply_stream, name="stream"),
]
