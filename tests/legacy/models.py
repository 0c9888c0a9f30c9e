"""A test app whose data migrations are written the way many third-party apps write theirs."""

from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=100)

    class Meta:
        permissions = [("audit_note", "Can audit notes")]


class Sketch(models.Model):
    """Created as Draft, then renamed: contenttypes adds a RenameContentType to that migration in place."""

    title = models.CharField(max_length=200)
