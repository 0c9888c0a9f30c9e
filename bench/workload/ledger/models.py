"""Django models of the ledger app; `migrations/` holds the 30 migrations that built them."""

from django.db import models


class Customer(models.Model):
    name = models.CharField(max_length=255)
    email = models.EmailField()
    phone = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(null=True)
    vip = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["email"], name="customer_email")]


class Account(models.Model):
    STATUSES = [("open", "Open"), ("frozen", "Frozen"), ("closed", "Closed")]

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="accounts")
    number = models.CharField(max_length=34, unique=True)
    opened = models.DateField()
    balance = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    status = models.CharField(max_length=10, choices=STATUSES, default="open")
    closed_on = models.DateField(null=True)


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)


class Product(models.Model):
    sku = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    active = models.BooleanField(default=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="products")


class Invoice(models.Model):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="invoices")
    issued = models.DateField()
    total = models.DecimalField(max_digits=14, decimal_places=2)
    due = models.DateField(null=True)
    currency = models.CharField(max_length=3, default="EUR")

    class Meta:
        indexes = [models.Index(fields=["account", "issued"], name="invoice_account_issued")]


class Payment(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="payments")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    paid_at = models.DateTimeField()
    method = models.CharField(max_length=16, default="card")


class Address(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    line1 = models.CharField(max_length=200)
    city = models.CharField(max_length=100)
    postcode = models.CharField(max_length=16)
    country = models.CharField(max_length=2, default="NL")
    notes = models.TextField(blank=True, default="")


class Subscription(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="subscriptions")
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    start = models.DateField()
    end = models.DateField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "product", "start"], name="subscription_once_per_start"
            )
        ]


class Note(models.Model):
    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)
    customer = models.ForeignKey(Customer, null=True, on_delete=models.SET_NULL, related_name="notes")


class AuditEvent(models.Model):
    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["kind", "at"], name="auditevent_kind_at")]


class Discount(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="discounts")
    percent = models.PositiveSmallIntegerField()
    valid_until = models.DateField(null=True)
