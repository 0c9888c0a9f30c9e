"""The corpus project's own app: a few migrations written the way third-party data migrations are."""

from django.db import models


class Widget(models.Model):
    name = models.CharField(max_length=50)

    class Meta:
        permissions = [("twiddle_widget", "Can twiddle widget")]


class Note(models.Model):
    title = models.CharField(max_length=100)
    vendor = models.CharField(max_length=20, blank=True)
    body = models.TextField(blank=True)
    slug = models.CharField(max_length=100, default="", db_index=True)
