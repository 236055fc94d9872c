from django.urls import path

from members import views

app_name = "members"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("mina-sidor/", views.home, name="home"),
    path("mina-sidor/kort/", views.card, name="card"),
    path("mina-sidor/kort/nytt-qr/", views.card_rotate, name="card-rotate"),
    path("mina-sidor/profil/", views.profile, name="profile"),
    path("konto/aktivera/", views.activate, name="activate"),
    path("konto/aktivera/skickat/", views.activate_sent, name="activate-sent"),
    path("konto/aktivera/kod/", views.activate_code, name="activate-code"),
    path("konto/aktivera/losenord/", views.activate_password, name="activate-password"),
    path("konto/aktivera/<str:token>/", views.activate_link, name="activate-link"),
    path("sprak/", views.language_set, name="language"),
    path("offline/", views.offline, name="offline"),
    path("favicon.ico", views.favicon, name="favicon"),
]
