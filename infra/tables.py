"""The domain tables' key schemas, as the DynamoDB backend defines them.

PROVISIONAL: a generic pk/sk + one GSI layout, used only until
``storage/dynamodb/schema.py`` (the backend's own definitions) lands; this module will
then convert those definitions instead of stating any.
"""

from __future__ import annotations

from infra.constructs.storage import IndexDefinition, KeyAttribute, TableDefinition


def backend_table_definitions() -> dict[str, TableDefinition]:
    """Domain -> key schema, indexes and TTL attribute."""
    pk = KeyAttribute("pk", "S")
    sk = KeyAttribute("sk", "S")
    gsi = IndexDefinition("gsi1", KeyAttribute("gsi1pk", "S"), KeyAttribute("gsi1sk", "S"))
    return {
        "memory": TableDefinition(pk, sk, (gsi,)),
        "workflows": TableDefinition(pk, sk, (gsi,)),
        "observability": TableDefinition(pk, sk, (gsi,), ttl_attribute="expires_at"),
        "scores": TableDefinition(pk, sk, (gsi,)),
    }
