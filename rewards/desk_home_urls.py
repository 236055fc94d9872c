"""The desk's arrivals list, /admin/desk/arrivals/ (refreshed by the desk page)."""

from django.urls import path

from rewards import desk

app_name = "desk-arrivals"

urlpatterns = [path("", desk.arrivals, name="list")]
