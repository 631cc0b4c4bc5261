"""The insights service's storage, one module per resource: the lake's raw zone and the
collector's group commit (`lake`), the daily salt (`salts`), the visitor counter (`counter`)."""
