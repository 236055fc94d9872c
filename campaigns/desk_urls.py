"""The campaigns actions of the staff desk, under /admin/desk/<member>/campaigns/."""

from django.urls import path

from campaigns import desk

app_name = "desk-campaigns"

urlpatterns = [
    path(
        "offers/<int:member_offer_id>/activate/",
        desk.offer_activate_for_member,
        name="offer-activate",
    ),
]
