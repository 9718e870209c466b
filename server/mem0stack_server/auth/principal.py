"""Who is calling, and which users they may reach."""

from __future__ import annotations

from dataclasses import dataclass

from mem0stack_server.domain.errors import permission_denied


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: an admin key, a user key bound to users, or dev mode."""

    key_id: str
    role: str  # "admin" or "user"
    users: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can_reach(self, user_id: str) -> bool:
        return self.is_admin or user_id in self.users

    def require_user(self, user_id: str) -> None:
        """PERMISSION_DENIED unless the caller may act on ``users/{user_id}``."""
        if not self.can_reach(user_id):
            raise permission_denied(f"this API key may not access users/{user_id}")


# Development mode (no key exists): every call acts as this admin.
DEV_PRINCIPAL = Principal(key_id="dev", role="admin")
