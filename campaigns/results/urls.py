"""Back-office URLs of the results page (mounted under ``admin/campaigns/results/``)."""

from django.urls import path

from campaigns.results import views as results_views

app_name = "campaign_results"

urlpatterns = [
    path("<int:campaign_id>/", results_views.campaign_results_page, name="detail"),
    path("<int:campaign_id>/promote/", results_views.campaign_promote, name="promote"),
]
