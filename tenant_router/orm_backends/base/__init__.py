"""The contracts every ORM backend implements."""

from .manager import BaseOrmManager, merge_db_config
from .migration_asst import BaseOrmMigrationAsst

__all__ = ["BaseOrmManager", "BaseOrmMigrationAsst", "merge_db_config"]
