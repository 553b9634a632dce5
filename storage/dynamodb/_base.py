"""What every DynamoDB domain shares: its table, the client, the overflow rule."""

from __future__ import annotations

from datetime import datetime

from storage.dynamodb.driver import Dynamo
from storage.dynamodb.offload import DEFAULT_THRESHOLD, Offloader
from storage.paging import check_time as check_time
from storage.paging import page_slice as page_slice
from storage.paging import within as within
from storage.protocols import BlobStore


class DynamoDBDomain:
    """A domain stored in one table.

    Args:
        dynamo: the shared client.
        table: the table name (``<prefix>-<domain>``).
        domain: the domain name (offload keys live under ``offload/<domain>/``).
        offload_threshold: items above this many bytes offload their big attributes.
        blobs: where to offload (``attach_blobs`` sets it later in a composite).
    """

    def __init__(
        self,
        dynamo: Dynamo,
        table: str,
        *,
        domain: str,
        offload_threshold: int = DEFAULT_THRESHOLD,
        blobs: BlobStore | None = None,
    ) -> None:
        self.dynamo = dynamo
        self.table = table
        self.offloader = Offloader(domain, offload_threshold)
        self.offloader.blobs = blobs

    @property
    def blobs(self) -> BlobStore | None:
        """The blob store big attributes go to (``None``: oversize items are refused)."""
        return self.offloader.blobs

    def attach_blobs(self, blobs: BlobStore | None) -> None:
        """Offload oversize attributes to ``blobs`` and clean up there on deletes."""
        self.offloader.blobs = blobs

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table={self.table!r})"


def time_range(
    start: datetime | None, end: datetime | None
) -> tuple[str | None, str | None]:
    """Bounds on a ``<sort_time>#<id>`` index key for an inclusive time range."""
    from storage.dynamodb.codec import sort_time

    low = sort_time(start) if start is not None else None
    # "$" follows "#", so "<time>$" is above every "<time>#<id>" of that millisecond.
    high = sort_time(end) + "$" if end is not None else None
    return low, high


def index_items(
    domain: DynamoDBDomain,
    index: str,
    partition: tuple[str, str],
    sort_attr: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, dict[str, object]]]:
    """Every item of one index partition (all pages), newest first, within a time range."""
    from storage.dynamodb.codec import s

    low, high = time_range(start, end)
    names = {"#p": partition[0]}
    values: dict[str, object] = {":p": s(partition[1])}
    condition = "#p = :p"
    if low is not None or high is not None:
        names["#s"] = sort_attr
    if low is not None and high is not None:
        condition += " AND #s BETWEEN :lo AND :hi"
        values.update({":lo": s(low), ":hi": s(high)})
    elif low is not None:
        condition += " AND #s >= :lo"
        values[":lo"] = s(low)
    elif high is not None:
        condition += " AND #s <= :hi"
        values[":hi"] = s(high)
    return domain.dynamo.query_items(
        domain.table,
        IndexName=index,
        KeyConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ScanIndexForward=False,
    )
