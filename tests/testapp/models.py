from django.db import models


class Order(models.Model):
    """A shop order: integers, text, a decimal, an aware datetime, a boolean, null, JSON."""

    id = models.BigAutoField(primary_key=True)
    customer = models.CharField(max_length=100)
    email = models.EmailField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.IntegerField()
    created_at = models.DateTimeField(db_index=True)
    paid = models.BooleanField(default=False)
    note = models.TextField(null=True, blank=True)  # noqa: DJ001  (null, not "": the tests need it)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.customer})"
