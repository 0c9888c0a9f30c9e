"""A migration that kills its own process when the database asks for it (table tr_kill_me exists).

Tests use it to show that a worker dying mid-tenant fails that tenant only. It has no reverse, so it
is also the irreversible migration a rollback must refuse to cross.
"""

import os
import signal

from django.db import migrations


def maybe_die(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        tables = schema_editor.connection.introspection.table_names(cursor)
    if "tr_kill_me" in tables:
        os.kill(os.getpid(), signal.SIGKILL)


class Migration(migrations.Migration):
    dependencies = [("contenttypes", "0001_initial")]
    operations = [migrations.RunPython(maybe_die)]
