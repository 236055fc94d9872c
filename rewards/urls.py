from django.urls import path

from rewards import live_views, receipt_views, views
from rewards.loyalty import views as lv

app_name = "rewards"

urlpatterns = [
    path("mina-sidor/poang/", views.points, name="points"),
    path("mina-sidor/nytt/", live_views.live, name="live"),
    path("mina-sidor/poang/registrera-kop/", views.claim, name="claim"),
    path("mina-sidor/kvitton/<int:purchase_id>/", receipt_views.receipt_page, name="receipt"),
    path(
        "mina-sidor/kvitton/<int:purchase_id>/pdf/", receipt_views.receipt_pdf, name="receipt-pdf"
    ),
    path("mina-sidor/nivaer/", lv.tier_page, name="tiers"),
    path("mina-sidor/beloningar/", lv.catalogue_page, name="catalogue"),
    path("mina-sidor/beloningar/<slug:code>/", lv.reward_page, name="reward"),
    path("mina-sidor/beloningar/<slug:code>/vantelista/", lv.waitlist_join, name="waitlist"),
    path("mina-sidor/vouchers/", lv.vouchers_page, name="vouchers"),
    path("mina-sidor/vouchers/<int:voucher_id>/", lv.voucher_page, name="voucher"),
    path("mina-sidor/vouchers/<int:voucher_id>/avboka/", lv.voucher_cancel, name="voucher-cancel"),
    path("mina-sidor/utmaningar/", lv.challenges_page, name="challenges"),
    path("mina-sidor/tipsa/", lv.referral_page, name="referrals"),
    path("tipsa/<str:code>/", lv.referral_link, name="referral-link"),
    path("mina-sidor/recensioner/", lv.reviews_page, name="reviews"),
]
