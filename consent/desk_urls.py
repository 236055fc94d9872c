"""The consent actions of the staff desk, under /admin/desk/<member>/consent/."""

from django.urls import path

from consent import desk

app_name = "desk-consent"

urlpatterns = [
    path("given-in-store/", desk.consent_in_store, name="given-in-store"),
]
