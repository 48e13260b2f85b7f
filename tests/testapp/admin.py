from django.contrib import admin

from stream_exports.admin import ExportActionsMixin

from .models import Order


@admin.register(Order)
class OrderAdmin(ExportActionsMixin, admin.ModelAdmin):
    export_dataset = "orders"
    list_display = ["id", "customer", "amount", "quantity", "created_at", "paid"]
    list_filter = ["paid", "created_at"]
    search_fields = ["customer", "email"]
    date_hierarchy = "created_at"
    show_full_result_count = False
