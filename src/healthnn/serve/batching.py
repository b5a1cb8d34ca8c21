"""Micro-batching: the rows of concurrent requests to one model predicted in one call."""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd
from starlette.concurrency import run_in_threadpool

from healthnn.serve.quiet import quietly

__all__ = ["Batcher", "EncodedBatcher"]


class Batcher:
    """Predict the rows of concurrent requests to one model in one call.

    A request's rows wait in a queue while the model works on the previous batch; the next
    batch takes everything waiting (up to ``max_rows``), grouped by column set, so a request
    sees exactly the columns it sent. Per-call costs (pandas, the model's Python) are paid once
    a batch instead of once a request; no request waits for a timer. If a batch fails as a
    whole (a missing column, say), each request in it is predicted on its own, so the error
    reaches only the request that caused it.

    Rows go in as ``(columns, values)`` (lists of cells) and come back as records (dicts of
    prediction columns and ``error``), so a request costs no DataFrame of its own.
    """

    def __init__(self, model: Any, max_rows: int = 512) -> None:
        self.model, self.max_rows = model, max_rows
        self._queue: asyncio.Queue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task | None = None

    async def predict(self, columns: tuple[str, ...],
                      values: list[list[Any]]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:  # first use, or a new event loop
            self._queue, self._loop, self._worker = asyncio.Queue(), loop, None
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        fut: asyncio.Future = loop.create_future()
        await self._queue.put((columns, values, fut))
        return await fut

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            items = [await self._queue.get()]
            rows = len(items[0][1])
            while not self._queue.empty() and rows < self.max_rows:
                items.append(self._queue.get_nowait())
                rows += len(items[-1][1])
            groups: dict[tuple, list] = {}
            for columns, values, fut in items:
                if not fut.done():  # not cancelled by a timeout
                    groups.setdefault(columns, []).append((values, fut))
            for columns, group in groups.items():
                await self._predict_group(columns, group)

    def _records(self, columns: tuple[str, ...], values: list[list[Any]]) -> list[dict]:
        df = pd.DataFrame(values, columns=list(columns), dtype=object)
        return self.model.predict(df).to_dict("records")

    async def _predict_group(self, columns: tuple[str, ...], group: list) -> None:
        if len(group) > 1:
            try:
                results = self._per_request(
                    await self._call(columns, self._joined(group)), group)
            except Exception:  # noqa: BLE001 - retried one by one below, errors go to each
                pass
            else:
                for (_, fut), res in zip(group, results, strict=True):
                    if not fut.done():
                        fut.set_result(res)
                return
        for item in group:
            fut = item[1]
            try:
                res = self._per_request(await self._call(columns, self._joined([item])),
                                        [item])[0]
            except Exception as exc:  # noqa: BLE001 - handed to the request's handler
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(res)

    @staticmethod
    def _joined(group: list) -> list[Any]:
        """The rows of a group's requests, in one list for one model call."""
        return [row for values, _ in group for row in values]

    @staticmethod
    def _per_request(records: list[Any], group: list) -> list[Any]:
        """One model call's records, split back into each request's own."""
        out, start = [], 0
        for values, _ in group:
            out.append(records[start:start + len(values)])
            start += len(values)
        return out

    async def _call(self, columns: tuple[str, ...], values: list[Any]) -> Any:
        # in a thread: the event loop keeps reading requests (the next batch) meanwhile;
        # running small batches on the loop itself was slower (measured: half the throughput)
        return await run_in_threadpool(quietly(self._records), columns, values)


class EncodedBatcher(Batcher):
    """The same micro-batching for uploads the task decoded in memory (images): each request
    brings ``(rows, encoded inputs, errors)`` of one file; a batch concatenates them
    (``Task.concat_inputs``) and runs the model once."""

    async def predict_encoded(self, df: pd.DataFrame, inputs: Any,
                              errors: dict[int, str]) -> list[dict[str, Any]]:
        # one queue item per request; its "rows" are its file's rows
        return await self.predict(("<encoded>",), [(df, inputs, errors)])

    def _records(self, columns: tuple[str, ...], values: list[Any]) -> list[dict]:
        frames, parts, errs = zip(*values, strict=True)
        errors: dict[int, str] = {}
        offset = 0
        for frame, e in zip(frames, errs, strict=True):
            errors.update({offset + i: msg for i, msg in e.items()})
            offset += len(frame)
        df = pd.concat(frames, ignore_index=True)
        inputs = self.model.bundle.task.concat_inputs(list(parts))
        records = self.model.predict_encoded(df, inputs, errors).to_dict("records")
        # one record list per request (a request's file may hold several rows)
        out, start = [], 0
        for frame in frames:
            out.append(records[start:start + len(frame)])
            start += len(frame)
        return out

    @staticmethod
    def _joined(group: list) -> list[Any]:
        return [values[0] for values, _ in group]  # each request: one (df, inputs, errors)

    @staticmethod
    def _per_request(records: list[Any], group: list) -> list[Any]:
        return records  # _records already answers per request
