"""The users the server holds memories of, and each one's activity per day (AdminService)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from mem0stack.v1 import admin_pb2
from mem0stack.v1 import admin_service_pb2 as svc
from mem0stack_server.domain.convert import timestamp
from mem0stack_server.domain.errors import Reason, echo, invalid
from mem0stack_server.domain.names import parse_parent
from mem0stack_server.domain.pagination import decode_token, encode_token, fingerprint
from mem0stack_server.domain.validation import Validator
from mem0stack_server.store.usage import UsageStore

DEFAULT_DAYS = 30
MAX_DAYS = 366


def parse_usage_name(value: str, field: str = "name") -> str:
    """The user id of ``users/{user}/usage``."""
    parent, sep, rest = value.rpartition("/")
    if not sep or rest != "usage":
        raise invalid(
            Reason.INVALID_NAME,
            field,
            f"{echo(value)} is not a valid name; expected users/{{user}}/usage",
            name=value[:200],
        )
    return parse_parent(parent, field)


class Users:
    def __init__(self, store: UsageStore) -> None:
        self.store = store

    async def list(self, req: svc.ListUsersRequest) -> svc.ListUsersResponse:
        size = Validator.page_size(req.page_size)
        query = fingerprint("users", req.prefix)
        after = decode_token(req.page_token, query, 1)
        rows = await self.store.users(
            prefix=req.prefix, after=str(after[0]) if after else None, limit=size + 1
        )
        page, more = rows[:size], len(rows) > size
        return svc.ListUsersResponse(
            users=[
                admin_pb2.UserSummary(
                    name=f"users/{r['user_id']}",
                    active_memories=r["active"],
                    memories=r["total"],
                    last_change_time=timestamp(r["last_change"]),
                    last_access_time=timestamp(r["last_access"]),
                )
                for r in page
            ],
            next_page_token=encode_token(query, [page[-1]["user_id"]]) if more else "",
        )

    async def usage(self, req: svc.GetUserUsageRequest) -> admin_pb2.UserUsage:
        user_id = parse_usage_name(req.name)
        if req.days < 0:
            raise invalid(Reason.INVALID_ARGUMENT, "days", "must not be negative")
        if req.days > MAX_DAYS:
            raise invalid(Reason.INVALID_ARGUMENT, "days", f"must be at most {MAX_DAYS}")
        count = req.days or DEFAULT_DAYS
        last = datetime.now(UTC).date()
        rows = await self.store.days(user_id, last - timedelta(days=count - 1), last)
        return admin_pb2.UserUsage(
            name=req.name,
            days=[
                admin_pb2.UserUsage.Day(
                    start_time=timestamp(datetime.combine(r["day"], time(), UTC)),
                    memories_created=r["memories_created"],
                    searches=r["searches"],
                    llm_prompt_tokens=r["llm_prompt_tokens"],
                    llm_completion_tokens=r["llm_completion_tokens"],
                    llm_calls=r["llm_calls"],
                )
                for r in rows
            ],
        )
