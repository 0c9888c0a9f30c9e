from django.db import models


class Clinic(models.Model):
    """One row per tenant, kept in the central database."""

    tenant_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
