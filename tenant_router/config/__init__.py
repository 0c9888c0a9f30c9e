"""The configuration: tenant-router's settings, the tenant document and its environment variables, read and
validated at call time (`loader.load_config`); `model` holds what the rest of the library works with."""
