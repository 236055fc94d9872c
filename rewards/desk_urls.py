"""The rewards actions of the staff desk, under /admin/desk/<member>/rewards/."""

from django.urls import path

from rewards import desk, receipt_views

app_name = "desk-rewards"

urlpatterns = [
    path("check-in/", desk.check_in, name="check-in"),
    path("adjust-points/", desk.adjust_points, name="adjust-points"),
    path("vouchers/<int:voucher_id>/use/", desk.voucher_use, name="voucher-use"),
    path("receipts/<int:purchase_id>/", receipt_views.desk_receipt, name="receipt"),
    path("receipts/<int:purchase_id>/pdf/", receipt_views.desk_receipt_pdf, name="receipt-pdf"),
]
