from django.contrib import admin

from .models import Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "amount", "quantity", "created_at", "paid"]
    list_filter = ["paid", "created_at"]
    search_fields = ["customer", "email"]
    date_hierarchy = "created_at"
    show_full_result_count = False
