"""A test app whose data migrations are written the way many third-party apps write theirs."""

from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=100)

    class Meta:
        permissions = [("audit_note", "Can audit notes")]
