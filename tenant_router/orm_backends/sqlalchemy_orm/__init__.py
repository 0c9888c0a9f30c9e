"""The SQLAlchemy backend: SqlAlchemyOrmManager (engines, sessions) and AlembicMigrationAsst."""
