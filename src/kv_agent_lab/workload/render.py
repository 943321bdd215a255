"""Turn a request into the chat messages a server receives.

A request's prompt is its thread's system text, every earlier turn of the thread
(user message, then the assistant reply), then its own user message. Which reply
text an earlier turn contributes depends on the session's history mode:

- replay: the scripted ``reply`` from the workload;
- generated: the server's real reply, passed in ``replies`` during a live run.
  Offline (statistics, estimates) no real reply exists, so a stand-in of
  ``max_tokens`` common words, seeded by the request id, takes its place: it has
  the right length and is identical in every later turn, which is what prefix
  caching cares about.
"""

from __future__ import annotations

import hashlib
import random
from typing import Mapping

from .model import Part, Request, Workload

# Short, frequent English words: each is one token (with its leading space) in the
# BPE vocabularies of the models the lab covers, so N words ~ N tokens.
_STANDIN_WORDS = (
    "the of and to in is that for it as with was on be by this are or from at an not "
    "but have which can all their has more one will also been other if its about when "
    "there so may into only new some these than time used two first most any over such"
).split()


def standin_reply(request: Request) -> str:
    """Deterministic placeholder for a generated reply that has not happened yet."""
    seed = int.from_bytes(hashlib.blake2b(request.id.encode(), digest_size=8).digest(), "big")
    rng = random.Random(seed)
    return " ".join(rng.choice(_STANDIN_WORDS) for _ in range(request.max_tokens))


class PromptRenderer:
    """Builds OpenAI-style message lists for the requests of one workload."""

    def __init__(self, workload: Workload):
        self.workload = workload

    def reply_text(self, request: Request, replies: Mapping[str, str] | None = None) -> str:
        session = self.workload.sessions[request.session]
        if session.history == "replay":
            return request.reply or ""
        if replies is not None and request.id in replies:
            return replies[request.id]
        return standin_reply(request)

    def part_text(self, part: Part, replies: Mapping[str, str] | None = None) -> str:
        if part.kind == "text":
            return part.value
        if part.kind == "ref":
            return self.workload.prompts[part.value].text
        return self.reply_text(self.workload.request(part.value), replies)

    def join(self, parts: tuple[Part, ...], replies: Mapping[str, str] | None = None) -> str:
        # Parts are joined by a blank line, the way prompt builders concatenate sections.
        return "\n\n".join(self.part_text(p, replies) for p in parts)

    def messages(self, request: Request,
                 replies: Mapping[str, str] | None = None) -> list[dict[str, str]]:
        turns = self.workload.thread_turns(request)
        out: list[dict[str, str]] = []
        if turns[0].system:
            out.append({"role": "system", "content": self.join(turns[0].system, replies)})
        for earlier in turns[: request.turn - 1]:
            out.append({"role": "user", "content": self.join(earlier.user, replies)})
            out.append({"role": "assistant", "content": self.reply_text(earlier, replies)})
        out.append({"role": "user", "content": self.join(request.user, replies)})
        return out
