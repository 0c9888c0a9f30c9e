"""The Django ORM backend: DjangoOrmManager, DjangoOrmMigrationAsst and DjangoOrmRouter."""
