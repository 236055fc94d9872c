from django.urls import path

from consent import views

app_name = "consent"

urlpatterns = [
    path("mina-sidor/installningar/", views.preferences, name="preferences"),
    path("mina-sidor/installningar/samtycke/", views.consent_toggle, name="consent-toggle"),
    path("mina-sidor/installningar/kontakt/", views.contact_preferences, name="contact"),
    path("mina-sidor/installningar/paus/", views.pause, name="pause"),
    path("mina-sidor/installningar/intressen/", views.interests, name="interests"),
    path("mina-sidor/vad-gillar-du/", views.interests_step, name="interests-step"),
    path("mina-sidor/mina-data/", views.my_data, name="my-data"),
    path("mina-sidor/mina-data/export/", views.export_start, name="export-start"),
    path("mina-sidor/mina-data/export/status/", views.export_status, name="export-status"),
    path(
        "mina-sidor/mina-data/export/<int:pk>/ladda-ner/",
        views.export_download,
        name="export-download",
    ),
    path("mina-sidor/mina-data/radera/", views.erasure_request, name="erasure-request"),
    path("mina-sidor/mina-data/radera/avbryt/", views.erasure_cancel, name="erasure-cancel"),
    path("radera/bekrafta/<str:token>/", views.erasure_confirm, name="erasure-confirm"),
    path("avregistrera/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("integritet/", views.privacy_notice, name="privacy-notice"),
]
