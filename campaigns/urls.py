from django.urls import path

from campaigns import door, views

app_name = "campaigns"

urlpatterns = [
    path("mina-sidor/erbjudanden/", views.my_offers, name="my-offers"),
    path("mina-sidor/erbjudanden/<int:pk>/aktivera/", views.offer_activate, name="offer-activate"),
    path("k/<str:token>/", views.click, name="click"),
    path("in/<str:token>/", door.door, name="door"),
    path("in/<str:token>/erbjudande/", door.door_offer_part, name="door-offer"),
    path("o/<str:token>/p.gif", views.opened, name="open"),
]
