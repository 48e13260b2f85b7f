from django.db import models


class Order(models.Model):
    """A shop order: every field type an export must carry losslessly."""

    id = models.BigAutoField(primary_key=True)
    customer = models.CharField(max_length=100)
    email = models.EmailField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.IntegerField()
    created_at = models.DateTimeField(db_index=True)
    paid = models.BooleanField(default=False)
    note = models.TextField(null=True, blank=True)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]
        permissions = [("export_order", "Can export order")]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.customer})"
