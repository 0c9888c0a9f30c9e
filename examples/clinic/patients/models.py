from django.db import models


class Ward(models.Model):
    name = models.CharField(max_length=100, unique=True)


class Patient(models.Model):
    name = models.CharField(max_length=200)
    born = models.DateField(null=True)
    ward = models.ForeignKey(Ward, null=True, on_delete=models.SET_NULL)


class Visit(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="visits")
    at = models.DateTimeField()
    notes = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "at"], name="visit_patient_at")]
