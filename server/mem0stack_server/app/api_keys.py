"""API keys: create, read, list and revoke them (AdminService; the CLI's keys commands).

Only a hash of each key's secret is stored (auth/keys.py); the full key is returned once,
by :meth:`ApiKeys.create`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from mem0stack.v1 import admin_pb2
from mem0stack.v1 import admin_service_pb2 as svc
from mem0stack_server.auth import keys as api_keys
from mem0stack_server.domain.convert import timestamp
from mem0stack_server.domain.errors import Code, DomainError, Reason, echo, invalid
from mem0stack_server.domain.names import parse_parent
from mem0stack_server.domain.pagination import decode_token, encode_token, fingerprint
from mem0stack_server.domain.validation import Validator
from mem0stack_server.store.keys import KeyStore

MAX_LABEL_CHARS = 200
MAX_KEY_USERS = 100

_ROLES = {admin_pb2.ApiKey.ADMIN: "admin", admin_pb2.ApiKey.USER: "user"}
_ROLE_VALUES = {name: value for value, name in _ROLES.items()}


def api_key_not_found(name: str) -> DomainError:
    return DomainError(
        Code.NOT_FOUND, Reason.API_KEY_NOT_FOUND, f"API key {name!r} not found", name=name
    )


def parse_key_name(value: str, field: str = "name") -> str:
    """The key id of ``apiKeys/{id}``."""
    prefix, _, key_id = value.partition("/")
    if prefix != "apiKeys" or not key_id or "/" in key_id:
        raise invalid(
            Reason.INVALID_NAME,
            field,
            f"{echo(value)} is not a valid name; expected apiKeys/{{id}}",
            name=value[:200],
        )
    return key_id


class ApiKeys:
    def __init__(self, store: KeyStore) -> None:
        self.store = store

    async def create(self, req: svc.CreateApiKeyRequest) -> svc.CreateApiKeyResponse:
        wanted = req.api_key
        role = _ROLES.get(wanted.role)
        if role is None:
            raise invalid(Reason.INVALID_ARGUMENT, "api_key.role", "must be ADMIN or USER")
        users = list(dict.fromkeys(wanted.users))  # in order, without repeats
        if role == "admin" and users:
            raise invalid(
                Reason.INVALID_ARGUMENT,
                "api_key.users",
                "must be empty for an ADMIN key, which reaches every user",
            )
        if role == "user" and not users:
            raise invalid(
                Reason.INVALID_ARGUMENT,
                "api_key.users",
                "a USER key needs at least one user id it may reach",
            )
        if len(users) > MAX_KEY_USERS:
            raise invalid(
                Reason.TOO_MANY_ITEMS, "api_key.users", f"at most {MAX_KEY_USERS} user ids"
            )
        for index, user in enumerate(users):
            parse_parent(f"users/{user}", f"api_key.users[{index}]")
        if len(wanted.label) > MAX_LABEL_CHARS:
            raise invalid(
                Reason.INVALID_ARGUMENT,
                "api_key.label",
                f"must be at most {MAX_LABEL_CHARS} characters",
            )
        key, key_id, secret_hash = api_keys.generate()
        row = await self.store.create(key_id, secret_hash, role, users, wanted.label)
        return svc.CreateApiKeyResponse(api_key=to_api_key(row), key=key)

    async def get(self, name: str) -> admin_pb2.ApiKey:
        row = await self.store.get(parse_key_name(name))
        if row is None:
            raise api_key_not_found(name)
        return to_api_key(row)

    async def list(self, req: svc.ListApiKeysRequest) -> svc.ListApiKeysResponse:
        size = Validator.page_size(req.page_size)
        query = fingerprint("apiKeys", req.show_revoked)
        after = decode_token(req.page_token, query, 2)
        rows = await self.store.page(
            after=_after(after), limit=size + 1, show_revoked=req.show_revoked
        )
        page, more = rows[:size], len(rows) > size
        token = ""
        if more:
            last = page[-1]
            token = encode_token(query, [last["create_time"].isoformat(), last["id"]])
        return svc.ListApiKeysResponse(
            api_keys=[to_api_key(r) for r in page], next_page_token=token
        )

    async def revoke(self, name: str) -> admin_pb2.ApiKey:
        key_id = parse_key_name(name)
        if not await self.store.revoke(key_id):
            if await self.store.get(key_id) is None:
                raise api_key_not_found(name)
            raise DomainError(
                Code.FAILED_PRECONDITION,
                Reason.API_KEY_REVOKED,
                f"API key {name!r} is revoked already",
                name=name,
            )
        return await self.get(name)


def _after(key: list[Any] | None) -> tuple[object, str] | None:
    if key is None:
        return None
    return datetime.fromisoformat(key[0]), str(key[1])


def to_api_key(row: asyncpg.Record) -> admin_pb2.ApiKey:
    return admin_pb2.ApiKey(
        name=f"apiKeys/{row['id']}",
        role=_ROLE_VALUES[row["role"]],
        users=list(row["users"]),
        label=row["label"],
        create_time=timestamp(row["create_time"]),
        last_use_time=timestamp(row["last_use_time"]),
        revoke_time=timestamp(row["revoke_time"]),
    )
