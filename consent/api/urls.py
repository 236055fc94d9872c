from django.urls import path

from consent.api import views

urlpatterns = [
    path("me/consents/", views.MyConsentsView.as_view(), name="api-my-consents"),
    path("me/consents/<slug:code>/", views.MyConsentView.as_view(), name="api-my-consent"),
]
