"""How a global batch is split among processes (contiguous shares): the data layer and the engine agree on it."""
from __future__ import annotations


def shard_indices(n: int, rank: int, world: int) -> range:
    """The rows of a global batch of ``n`` lists that rank ``rank`` of ``world`` trains on (contiguous shares)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))
