from django.urls import path

from rewards import views

app_name = "rewards"

urlpatterns = [
    path("mina-sidor/poang/", views.points, name="points"),
    path("mina-sidor/poang/registrera-kop/", views.claim, name="claim"),
]
