from django.urls import path

from rewards.api import views, vouchers

urlpatterns = [
    path("purchases/", views.PurchaseView.as_view(), name="api-purchases"),
    path(
        "purchases/<str:receipt_id>/returns/",
        views.ReturnView.as_view(),
        name="api-purchase-returns",
    ),
    path("points/balance/", views.BalanceView.as_view(), name="api-points-balance"),
    path("points/redeem/", views.RedeemView.as_view(), name="api-points-redeem"),
    path("points/reservations/", views.ReservationView.as_view(), name="api-reservations"),
    path(
        "points/reservations/<int:reservation_id>/capture/",
        views.CaptureView.as_view(),
        name="api-reservation-capture",
    ),
    path(
        "points/reservations/<int:reservation_id>/release/",
        views.ReleaseView.as_view(),
        name="api-reservation-release",
    ),
    path("checkins/", views.CheckInView.as_view(), name="api-checkins"),
    path(
        "vouchers/validate/", vouchers.VoucherValidateView.as_view(), name="api-vouchers-validate"
    ),
    path("vouchers/redeem/", vouchers.VoucherRedeemView.as_view(), name="api-vouchers-redeem"),
    path("vouchers/member/", vouchers.VoucherListView.as_view(), name="api-vouchers-member"),
]
