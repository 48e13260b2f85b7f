"""Public: an export made and served from a project's own view.

::

    from stream_exports.exports import Export, export_response

    def my_orders(request):
        export = Export.of_rows(registry.get("orders"), Order.objects.filter(...),
                                ["id", "amount"], get_format("csv"))
        return export_response(request, request.user, export)
"""

from .core.exports import Export
from .http.exports import export_response

__all__ = ["Export", "export_response"]
