"""Progress reporting must not hold a stream of chunks in memory."""

from __future__ import annotations

from mqlscore.console import progress


def test_progress_consumes_a_generator_lazily() -> None:
    pulled: list[int] = []

    def chunks():
        for i in range(3):
            pulled.append(i)
            yield i

    stream = progress(chunks(), "chunks")
    assert next(stream) == 0 and pulled == [0]  # one chunk read, not all three
    assert list(stream) == [1, 2]
