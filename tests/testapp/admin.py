from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import User

from stream_exports.admin import ExportActionsMixin, revoke_signed_links

from .models import Order

admin.site.unregister(User)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    actions = [revoke_signed_links]


@admin.register(Order)
class OrderAdmin(ExportActionsMixin, admin.ModelAdmin):
    export_dataset = "orders"
    list_display = ["id", "customer", "amount", "quantity", "created_at", "paid"]
    list_filter = ["paid", "created_at"]
    search_fields = ["customer", "email"]
    date_hierarchy = "created_at"
    show_full_result_count = False
