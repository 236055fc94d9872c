"""/admin/desk/: the staff desk (members.desk_views). Each app's desk actions have their own
``desk_urls`` under ``/admin/desk/<member>/<app>/`` (config/urls.py)."""

from django.urls import path

from members import desk_views

app_name = "desk"

urlpatterns = [
    path("", desk_views.desk_home, name="home"),
    path("<int:member_id>/", desk_views.desk_member, name="member"),
    path(
        "<int:member_id>/verification/",
        desk_views.verification_resend,
        name="verification-resend",
    ),
    path("<int:member_id>/activation/", desk_views.activation_send, name="activation-send"),
]
