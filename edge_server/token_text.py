"""Token ids to the text a client is sent: UTF-8 across token boundaries, stop strings held back.

For the batched decoder (batching.py), which yields token ids; llama-cpp-python's
create_completion did this for the one-at-a-time path. A token can end inside a
multi-byte character (an emoji often takes several byte-level tokens), so bytes
wait until they make whole characters. Text that may be the start of a stop
string waits until it is known not to be one: a stop string is never sent, not
even in part, and the answer ends where it begins (OpenAI's ``stop``).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence

__all__ = ["TokenText"]


class TokenText:
    """``push(token)`` → (text that may be sent now, whether a stop string ended the answer); ``flush()`` at the end."""

    def __init__(self, piece: Callable[[int], bytes], stops: Sequence[str] = ()) -> None:
        self._piece = piece
        self._stops = [s for s in stops if s]
        self._bytes = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""

    def push(self, token: int) -> tuple[str, bool]:
        self._held += self._bytes.decode(self._piece(token))
        at = min((i for i in (self._held.find(s) for s in self._stops) if i >= 0), default=-1)
        if at >= 0:
            text, self._held = self._held[:at], ""
            return text, True
        keep = self._longest_stop_start_at_end()
        text = self._held[: len(self._held) - keep]
        self._held = self._held[len(self._held) - keep :]
        return text, False

    def flush(self) -> str:
        """What is still held when the answer ends without a stop string: a partial stop, or an
        incomplete character (as U+FFFD)."""
        rest = self._held + self._bytes.decode(b"", final=True)
        self._held = ""
        return rest

    def _longest_stop_start_at_end(self) -> int:
        best = 0
        for stop in self._stops:
            for k in range(min(len(stop) - 1, len(self._held)), best, -1):
                if self._held.endswith(stop[:k]):
                    best = k
                    break
        return best
