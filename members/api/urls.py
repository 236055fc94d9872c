from django.urls import path

from members.api import events, views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="api-me"),
    path("members/identify/", views.IdentifyView.as_view(), name="api-members-identify"),
    path("events/", events.EventsFeedView.as_view(), name="api-events"),
]
