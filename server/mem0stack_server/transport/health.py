"""The gRPC health service, able to report every service it knows at once.

The server turns all of them NOT_SERVING while its database is away and SERVING when it is
back; grpc's servicer keeps its list of services private, so this one records them.
"""

from __future__ import annotations

from grpc_health.v1 import health, health_pb2


class HealthServicer(health.aio.HealthServicer):  # type: ignore[misc]
    """``grpc_health``'s servicer, remembering each service it was told about."""

    def __init__(self) -> None:
        super().__init__()
        self.services: set[str] = set()

    async def set(self, service: str, status: health_pb2.HealthCheckResponse.ServingStatus) -> None:
        self.services.add(service)
        await super().set(service, status)

    async def set_all(self, status: health_pb2.HealthCheckResponse.ServingStatus) -> None:
        """Report ``status`` for every service (ignored once the shutdown has begun)."""
        for service in sorted(self.services):
            await self.set(service, status)
