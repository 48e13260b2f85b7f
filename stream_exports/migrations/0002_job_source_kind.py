"""Job sources name their kind (``jobs.sources``): the admin changelists of old jobs too."""

from django.db import migrations


def name_changelist_sources(apps, schema_editor):
    ExportJob = apps.get_model("stream_exports", "ExportJob")
    for job in ExportJob.objects.exclude(source={}).only("source"):
        if "kind" not in job.source and "admin_site" in job.source:
            query = job.source.get("query") or ""
            job.source["kind"] = "admin.changelist"
            job.source["description"] = "an admin changelist" + (f" (?{query})" if query else "")
            job.save(update_fields=["source"])


class Migration(migrations.Migration):
    dependencies = [("stream_exports", "0001_initial")]

    operations = [migrations.RunPython(name_changelist_sources, migrations.RunPython.noop)]
