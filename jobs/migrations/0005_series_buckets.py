from django.db import migrations, models
from django.db.models import Max, OuterRef, Subquery


def forget_kept_series(apps, schema_editor):
    # Series kept before were LTTB-reduced: rebuilt (M4, jobs/series.py) on the next page.
    apps.get_model("jobs", "MetricSeries").objects.all().delete()
    Job = apps.get_model("jobs", "Job")
    MetricPoint = apps.get_model("jobs", "MetricPoint")
    highest = MetricPoint.objects.filter(job=OuterRef("pk")).values("job").annotate(m=Max("step")).values("m")
    Job.objects.update(metrics_last_step=Subquery(highest))


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0004_job_plan_and_billing"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="metrics_revision",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="job",
            name="metrics_last_step",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="metricseries",
            name="first_step",
            field=models.IntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="metricseries",
            name="max_points",
            field=models.PositiveIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="metricseries",
            name="revision",
            field=models.PositiveIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.RunPython(forget_kept_series, migrations.RunPython.noop),
    ]
