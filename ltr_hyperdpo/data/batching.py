"""Slates to torch: ``features [batch, list, features]``, ``labels [batch, list, objectives]``, ``mask [batch, list]``.

Training samples lists longer than ``slate_length`` down to a random subset (allRank's FixLength) and pads
shorter ones; batches are bucketed by list length so they are not mostly padding. Evaluation uses full lists.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..utils.sharding import shard_indices
from .dataset import RankingDataset


@dataclass
class Slates:
    """One batch. ``mask`` True = real document; ``rows`` are dataset row indices (-1 for padding).

    A process's share of a global batch (several processes) keeps the global width and records its lists'
    positions in the global batch (``global_index``) and the global batch's size, so that random draws made for
    the global batch can be sliced to it."""

    features: torch.Tensor  # [batch, list, features] float32
    labels: torch.Tensor  # [batch, list, objectives] float32
    mask: torch.Tensor  # [batch, list] bool
    queries: np.ndarray  # [batch] query indices
    rows: np.ndarray  # [batch, list] int64
    global_index: torch.Tensor | None = None  # [batch] positions in the global batch
    global_size: int | None = None

    @property
    def n_global(self) -> int:
        return self.global_size if self.global_size is not None else self.features.shape[0]

    @property
    def positions(self) -> torch.Tensor:
        """``[batch]`` positions of these lists in the global batch."""
        if self.global_index is not None:
            return self.global_index
        return torch.arange(self.features.shape[0])

    def to(self, device: torch.device | str) -> Slates:
        """On ``device``: pinned host memory and non-blocking copies toward CUDA."""
        dev = torch.device(device)
        pin = dev.type == "cuda"

        def move(t: torch.Tensor) -> torch.Tensor:
            return (t.pin_memory() if pin else t).to(dev, non_blocking=pin)

        return Slates(move(self.features), move(self.labels), move(self.mask), self.queries, self.rows,
                      self.global_index, self.global_size)

    def shard(self, rank: int, world: int) -> tuple[Slates | None, float]:
        """Process ``rank``'s contiguous share of the lists and its fraction of them; ``(None, 0)`` on every
        process when the batch has fewer lists than processes (such a batch is skipped)."""
        if self.features.shape[0] < world:
            return None, 0.0
        idx = shard_indices(self.features.shape[0], rank, world)
        sel = slice(idx.start, idx.stop)
        return Slates(self.features[sel], self.labels[sel], self.mask[sel], self.queries[sel], self.rows[sel],
                      torch.arange(idx.start, idx.stop), self.features.shape[0]), len(idx) / self.features.shape[0]


def gather_slates(ds: RankingDataset, queries: np.ndarray, slate_length: int | None = None,
                  rng: np.random.Generator | None = None) -> Slates:
    """Pad (and for long lists, randomly subsample to ``slate_length``) the given queries into one batch."""
    sizes = ds.list_sizes[queries]
    lens = np.minimum(sizes, slate_length) if slate_length else sizes
    width = int(lens.max()) if len(lens) else 0
    rows = np.full((len(queries), width), -1, dtype=np.int64)
    for b, (q, n, m) in enumerate(zip(queries, sizes, lens, strict=True)):
        start = ds.offsets[q]
        if m < n:
            pick = rng.choice(n, size=m, replace=False) if rng is not None else np.arange(m)
            rows[b, :m] = start + np.sort(pick)
        else:
            rows[b, :m] = np.arange(start, start + n)
    mask = rows >= 0
    x = np.zeros((len(queries), width, ds.n_features), dtype=np.float32)
    x[mask] = ds.features(rows[mask])
    y = np.zeros((len(queries), width, ds.n_objectives), dtype=np.float32)
    y[mask] = ds.y[rows[mask]]
    return Slates(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask), np.asarray(queries), rows)


class SlateLoader:
    """Iterates a dataset in batches of queries; call :meth:`set_epoch` for a reproducible per-epoch shuffle."""

    def __init__(self, ds: RankingDataset, batch_size: int = 32, *, slate_length: int | None = None,
                 shuffle: bool = False, bucket: bool = True, seed: int = 0, drop_last: bool = False,
                 min_docs: int = 1, prefetch: int = 0):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.ds = ds
        self.batch_size = batch_size
        self.slate_length = slate_length
        self.shuffle = shuffle
        self.bucket = bucket
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self.prefetch = prefetch
        self.queries = np.flatnonzero(ds.list_sizes >= min_docs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_batches(self, epoch: int) -> Iterator[Slates]:
        """The batches of one epoch (a reproducible function of the seed and the epoch)."""
        self.set_epoch(epoch)
        return iter(self)

    def batches(self) -> list[np.ndarray]:
        """The epoch's batches of query indices (bucketed by length inside shuffled pools)."""
        rng = np.random.default_rng([self.seed, self.epoch])
        q = self.queries.copy()
        if self.shuffle:
            rng.shuffle(q)
        if self.bucket:
            lens = np.minimum(self.ds.list_sizes[q], self.slate_length or np.iinfo(np.int64).max)
            pool = self.batch_size * 50
            parts = []
            for s in range(0, q.size, pool):
                seg = q[s:s + pool]
                parts.append(seg[np.argsort(lens[s:s + pool], kind="stable")])
            q = np.concatenate(parts) if parts else q
        out = [q[s:s + self.batch_size] for s in range(0, q.size, self.batch_size)]
        if self.drop_last and out and out[-1].size < self.batch_size:
            out.pop()
        if self.shuffle:
            order = rng.permutation(len(out))
            out = [out[i] for i in order]
        return out

    def _produce(self) -> Iterator[Slates]:
        rng = np.random.default_rng([self.seed, self.epoch, 1])
        for qs in self.batches():
            yield gather_slates(self.ds, qs, self.slate_length if self.shuffle or self.slate_length else None, rng)

    def __iter__(self) -> Iterator[Slates]:
        """Batches in order; with ``prefetch > 0`` they are gathered by a background thread (numpy copies release
        the GIL, so gathering overlaps the model's step) — same batches, same order."""
        if self.prefetch <= 0:
            yield from self._produce()
            return
        import queue
        import threading

        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        done = object()

        def work():
            try:
                for b in self._produce():
                    while not stop.is_set():
                        try:
                            q.put(b, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                q.put(done)
            except BaseException as e:  # surface errors in the consumer
                q.put(e)

        t = threading.Thread(target=work, daemon=True)
        t.start()
        try:
            while True:
                item = q.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            t.join(timeout=5)

    def __len__(self) -> int:
        n = self.queries.size
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
