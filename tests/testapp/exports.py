"""The test app's dataset (discovered by stream_exports at start-up)."""

from stream_exports.core import filters
from stream_exports.core.datasets import Dataset, register

from .models import Order

register(
    Dataset(
        name="orders",
        queryset=Order.objects.all(),
        fields=[
            "id",
            "customer",
            "email",
            "amount",
            "quantity",
            "created_at",
            "paid",
            "note",
            "data",
            "status",
        ],
        cursor="id",
        filters={
            "paid": filters.boolean("paid", help="true or false"),
            "created_after": filters.datetime("created_at", "gte", help="ISO 8601, inclusive"),
            "created_before": filters.datetime("created_at", "lt", help="ISO 8601, exclusive"),
            "min_amount": filters.decimal("amount", "gte", help="e.g. 100.00"),
        },
    )
)
