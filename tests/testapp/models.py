from django.db import models


class Status(models.TextChoices):
    PLACED = "placed", "Placed"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    RETURNED = "returned", "Returned to sender"


class Order(models.Model):
    """A shop order: integers, text, a decimal, an aware datetime, a boolean, null, JSON,
    and a choice (whose labels a spreadsheet may show)."""

    id = models.BigAutoField(primary_key=True)
    customer = models.CharField(max_length=100)
    email = models.EmailField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.IntegerField()
    created_at = models.DateTimeField(db_index=True)
    paid = models.BooleanField(default=False)
    note = models.TextField(null=True, blank=True)  # noqa: DJ001  (null, not "": the tests need it)
    data = models.JSONField(default=dict)
    status = models.CharField(
        "order status", max_length=16, choices=Status.choices, default=Status.PLACED
    )

    class Meta:
        ordering = ["id"]
        permissions = [("export_order", "Can export order")]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.customer})"
