"""The contracts every ORM backend implements."""

from .capabilities import Capabilities
from .manager import BaseOrmManager, merge_db_config
from .migration_asst import BaseOrmMigrationAsst

__all__ = ["BaseOrmManager", "BaseOrmMigrationAsst", "Capabilities", "merge_db_config"]
