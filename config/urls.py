from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from members import views as member_views
from members.api.views import api_not_found
from members.pictures import views as picture_views

admin.site.site_header = _("Kundklubb back-office")
admin.site.site_title = _("Kundklubb")
admin.site.index_title = _("Back-office")

api_v1 = [
    path("", include("members.api.urls")),
    path("", include("rewards.api.urls")),
    path("", include("consent.api.urls")),
]

urlpatterns = [
    # Back-office pages outside the model admin (campaign results); before admin's catch-all.
    path("admin/campaigns/results/", include("campaigns.results.urls")),
    # The staff desk (docs/desk.md): the page, then each app's actions on one member.
    path("admin/desk/", include("members.desk_urls")),
    path("admin/desk/arrivals/", include("rewards.desk_home_urls")),
    path("admin/desk/<int:member_id>/rewards/", include("rewards.desk_urls")),
    path("admin/desk/<int:member_id>/consent/", include("consent.desk_urls")),
    path("admin/desk/<int:member_id>/campaigns/", include("campaigns.desk_urls")),
    path("admin/", admin.site.urls),
    path("konto/", include("allauth.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/v1/(?P<path>.*)$", api_not_found),  # after every API route: JSON 404
    path("manifest.webmanifest", member_views.manifest, name="manifest"),
    path("sw.js", member_views.service_worker, name="service-worker"),
    # Pictures of rewards, offers, challenges and badges, in production too (docs/pictures.md).
    path(
        f"{settings.MEDIA_URL.strip('/')}/pictures/<path:name>",
        picture_views.picture_file,
        name="picture",
    ),
    path("", include("rewards.urls")),
    path("", include("consent.urls")),
    path("", include("campaigns.urls")),
    path("", include("members.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
