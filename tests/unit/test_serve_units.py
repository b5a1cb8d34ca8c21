"""Server parts without a server: micro-batching, the rate limiter, key storage."""

from __future__ import annotations

import asyncio
import threading

import pandas as pd
import pytest

from healthnn.errors import DataError
from healthnn.serve.app import Batcher, EncodedBatcher, RateLimiter, SharedRateLimiter
from healthnn.serve.keys import KeyStore


class Recorder:
    """A model stand-in: prediction = 2 * x; a frame without 'x' fails as a whole."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate = threading.Event()

    def predict(self, df: pd.DataFrame) -> pd.DataFrame:
        self.gate.wait(5)  # hold the first batch until the others are queued
        self.calls.append(len(df))
        if "x" not in df.columns:
            raise DataError("column not found", column="x")
        return pd.DataFrame({"y": df["x"].astype(float) * 2, "error": ""})


def test_batcher_batches_queued_requests_and_keeps_them_apart():
    model = Recorder()
    batcher = Batcher(model)

    async def run():
        first = asyncio.create_task(batcher.predict(("x",), [["0"]]))
        await asyncio.sleep(0.05)  # the first batch is now running (held by the gate)
        rest = [asyncio.create_task(batcher.predict(("x",), [[str(i)], [str(10 * i)]]))
                for i in range(1, 6)]
        bad = asyncio.create_task(batcher.predict(("z",), [["1"]]))
        await asyncio.sleep(0.05)
        model.gate.set()
        out = await asyncio.gather(first, *rest, bad, return_exceptions=True)
        return out

    out = asyncio.run(run())
    assert [r["y"] for r in out[0]] == [0.0]
    for i in range(1, 6):
        assert [r["y"] for r in out[i]] == [2.0 * i, 20.0 * i]
    assert isinstance(out[6], DataError)
    # one call for the first request, one for the five queued ones together, one for 'z'
    assert model.calls == [1, 10, 1]


class EncodedRecorder:
    """A served-model stand-in for uploads decoded in memory: inputs are tensors, the
    prediction is 3 * x; rows with an encoding error are not predicted."""

    class bundle:  # noqa: N801 - the attribute path EncodedBatcher uses
        class task:  # noqa: N801
            @staticmethod
            def concat_inputs(parts):
                import torch

                return torch.cat(parts)

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate = threading.Event()

    def predict_encoded(self, df, inputs, errors):
        self.gate.wait(5)
        self.calls.append(len(df))
        assert len(inputs) == len(df)
        y = [None if i in errors else float(inputs[i]) * 3 for i in range(len(df))]
        return pd.DataFrame({"y": y, "error": [errors.get(i, "") for i in range(len(df))]})


def test_uploads_decoded_in_memory_are_batched_and_kept_apart():
    import torch

    model = EncodedRecorder()
    batcher = EncodedBatcher(model)

    def upload(i: int, error: str | None = None):
        return (pd.DataFrame({"path": [f"{i}.png"]}), torch.tensor([float(i)]),
                {0: error} if error else {})

    async def run():
        first = asyncio.create_task(batcher.predict_encoded(*upload(0)))
        await asyncio.sleep(0.05)  # running, held by the gate
        rest = [asyncio.create_task(batcher.predict_encoded(*upload(i))) for i in range(1, 6)]
        bad = asyncio.create_task(batcher.predict_encoded(*upload(6, "image 6.png: corrupt")))
        await asyncio.sleep(0.05)
        model.gate.set()
        return await asyncio.gather(first, *rest, bad)

    out = asyncio.run(run())
    assert [r[0]["y"] for r in out[:6]] == [3.0 * i for i in range(6)]
    assert out[6][0]["error"] == "image 6.png: corrupt" and pd.isna(out[6][0]["y"])
    assert model.calls == [1, 6]  # the first alone, the six that queued meanwhile together


def test_rate_limiter_bucket():
    lim = RateLimiter(per_minute=2)
    assert lim.take("a") == 0 and lim.take("a") == 0
    wait = lim.take("a")
    assert 0 < wait <= 30
    assert lim.take("b") == 0  # per key
    assert RateLimiter(0).take("a") == 0  # 0: no limit


def test_shared_rate_limiter_is_one_bucket_for_every_process(tmp_path):
    """Two limiters on one file (as two worker processes have: separate descriptors, so the
    flock excludes them from each other) share each key's tokens."""
    a = SharedRateLimiter(4, tmp_path / "rate")
    b = SharedRateLimiter(4, tmp_path / "rate")
    waits = [lim.take("ward") for lim in (a, b, a, b, a, b)]
    assert waits[:4] == [0.0] * 4 and all(w > 0 for w in waits[4:])
    assert a.take("lab") == 0.0 and b.take("lab") == 0.0  # another key: its own bucket
    assert SharedRateLimiter(0, tmp_path / "rate").take("ward") == 0.0  # 0: no limit
    # many keys: open addressing keeps them apart
    c = SharedRateLimiter(1, tmp_path / "rate2")
    assert all(c.take(f"k{i}") == 0.0 for i in range(300))
    assert all(c.take(f"k{i}") > 0 for i in range(300))


def test_key_file_holds_no_key_and_bad_file_is_a_clear_error(tmp_path):
    store = KeyStore(tmp_path / "k.json")
    key = store.add("n", ["predict", "deid"])
    text = (tmp_path / "k.json").read_text()
    assert key not in text and key.split("_")[2] not in text
    assert store.verify("Bearer " + key) is None and store.verify("") is None
    (tmp_path / "k.json").write_text("{not json")
    with pytest.raises(Exception, match="cannot read the API key file"):
        KeyStore(tmp_path / "k.json").verify(key)


def test_small_frame_fast_path_equals_pandas_path(rng):
    """TablePreprocessor.transform converts frames of <= 64 rows cell by cell (a server
    request); the result, errors included, equals the pandas path used for larger frames."""
    import numpy as np

    from healthnn.data import preprocess
    from healthnn.data.preprocess import TablePreprocessor

    cells = [None, "", " ", "63", " 63 ", "+5", "5.", ".5", "1e3", "-0", "1_000", "abc", "nan",
             "inf", "1e400", "True", "false", 3, 2.5, float("nan"), True, "1.0", "2.00", "x ",
             np.float64(4.0), "(other)"]
    train = pd.DataFrame({"a": rng.normal(size=80), "b": rng.choice(["1", "2", "x"], 80),
                          "c": rng.choice(list("pqrs"), 80)})
    train.loc[::7, "a"] = np.nan
    pre = TablePreprocessor(["a"], ["b", "c"], max_levels=2).fit(train)
    for trial in range(40):
        n = int(rng.integers(1, 30))
        pick = lambda: [cells[i] for i in rng.integers(0, len(cells), n)]  # noqa: E731
        df = pd.DataFrame({"a": pick(), "b": pick(), "c": pick()}, dtype=object)
        if trial % 3 == 0:  # plain numbers only: the fast path itself is used
            df["a"] = [str(x) for x in rng.normal(size=n).round(3)]
        X_fast, err_fast = pre.transform(df)
        old = preprocess._FAST_ROWS
        preprocess._FAST_ROWS = -1
        try:
            X_slow, err_slow = pre.transform(df)
        finally:
            preprocess._FAST_ROWS = old
        np.testing.assert_array_equal(X_fast, X_slow)
        assert err_fast == err_slow
