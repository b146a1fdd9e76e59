"""Review at scale: the example's flags copied onto its state row (with an index for "waiting,
with a warning"), the worker's bulk decisions, and on SQLite a trigram full-text index (FTS5) of
the search text, as PostgreSQL's pg_trgm index of migration 0002."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


FTS_SQL = [
    # External content: the text lives in review_example, the index keeps trigrams of it only.
    "CREATE VIRTUAL TABLE review_example_fts USING fts5(search_text, content='review_example', "
    "content_rowid='id', columnsize=0, tokenize='trigram case_sensitive 1')",
    "CREATE TRIGGER review_example_fts_ai AFTER INSERT ON review_example BEGIN "
    "INSERT INTO review_example_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER review_example_fts_ad AFTER DELETE ON review_example BEGIN "
    "INSERT INTO review_example_fts(review_example_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER review_example_fts_au AFTER UPDATE OF search_text ON review_example BEGIN "
    "INSERT INTO review_example_fts(review_example_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO review_example_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO review_example_fts(review_example_fts) VALUES ('rebuild')",
]


def copy_flags(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "UPDATE review_examplestate SET has_error = e.has_error, has_warning = e.has_warning, "
            "has_privacy = e.has_privacy, is_duplicate = e.is_duplicate "
            "FROM review_example e WHERE e.id = review_examplestate.example_id"
        )


def sqlite_fts(apps, schema_editor):
    """SQLite only, and only where its build has FTS5 (Python's own does): without it the text
    filter still works, by a scan (review.selectors checks which one exists)."""
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("SAVEPOINT fts")
        try:
            for sql in FTS_SQL:
                cursor.execute(sql)
        except Exception:  # no FTS5 or no trigram tokenizer (SQLite before 3.34): keep the scan
            cursor.execute("ROLLBACK TO SAVEPOINT fts")
        cursor.execute("RELEASE SAVEPOINT fts")


def drop_sqlite_fts(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            for name in ("ai", "ad", "au"):
                cursor.execute(f"DROP TRIGGER IF EXISTS review_example_fts_{name}")
            cursor.execute("DROP TABLE IF EXISTS review_example_fts")


class Migration(migrations.Migration):

    dependencies = [
        ('datasets_app', '0002_version_lineage_exports'),
        ('review', '0003_freezing_state'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='BulkDecision',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('verdict', models.CharField(max_length=16)),
                ('reason', models.TextField(blank=True)),
                ('filters', models.JSONField(default=dict)),
                ('expected', models.PositiveIntegerField()),
                ('done', models.PositiveIntegerField(default=0)),
                ('cursor', models.IntegerField(blank=True, null=True)),
                ('state', models.CharField(choices=[('queued', 'Waiting for a worker'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Stopped')], default='queued', max_length=16)),
                ('message', models.TextField(blank=True)),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('heartbeat', models.DateTimeField()),
            ],
            options={
                'ordering': ['-created', '-id'],
            },
        ),
        migrations.AddField(
            model_name='examplestate',
            name='has_error',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='examplestate',
            name='has_privacy',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='examplestate',
            name='has_warning',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='examplestate',
            name='is_duplicate',
            field=models.BooleanField(default=False),
        ),
        migrations.AlterField(
            model_name='versionreview',
            name='state',
            field=models.CharField(choices=[('building', 'Preparing'), ('ready', 'In review'), ('failed', 'Could not be prepared'), ('freezing', 'Being frozen'), ('frozen', 'Frozen'), ('deciding', 'Bulk decision running')], default='building', max_length=16),
        ),
        migrations.AddIndex(
            model_name='examplestate',
            index=models.Index(fields=['version', 'status', 'has_warning', 'index'], name='review_state_warning'),
        ),
        migrations.AddField(
            model_name='bulkdecision',
            name='review',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='bulk_decisions', to='review.versionreview'),
        ),
        migrations.AddField(
            model_name='bulkdecision',
            name='user',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(copy_flags, migrations.RunPython.noop),
        migrations.RunPython(sqlite_fts, drop_sqlite_fts),
    ]
