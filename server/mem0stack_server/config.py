"""The one typed settings object of the server.

Values come from, highest priority first: keyword arguments (the CLI's flags), environment
variables prefixed ``MEM0STACK_``, a TOML file named by ``MEM0STACK_CONFIG``, then the
defaults below, which run everything embedded on one machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Server configuration; every field can be set as ``MEM0STACK_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MEM0STACK_", extra="ignore")

    # Network
    listen: str = Field("localhost:50051", description="gRPC listen address host:port.")
    metrics_listen: str = Field(
        "localhost:9464", description="Prometheus /metrics address; empty disables it."
    )
    grace_period_s: float = Field(10.0, description="How long SIGTERM waits for calls to drain.")

    # Storage
    data_dir: Path = Field(
        Path("data"), description="Where the embedded PostgreSQL keeps its files."
    )
    database_url: SecretStr | None = Field(
        None, description="External PostgreSQL (with pgvector); unset runs the embedded one."
    )
    db_pool_min: int = Field(2, description="Connections the pool keeps open.")
    db_pool_max: int = Field(10, description="Most connections the pool opens.")
    db_timeout_s: float = Field(10.0, description="Upper bound on any one database call.")
    hnsw_ef_search: int = Field(100, description="pgvector HNSW search breadth (recall vs speed).")

    # Embeddings
    embedder: Literal["local", "openai"] = Field(
        "local", description="local (ONNX all-MiniLM-L6-v2, 384-d) or openai (any compatible API)."
    )
    embedding_model: str | None = Field(None, description="Model name for the openai embedder.")
    embedding_base_url: str | None = Field(
        None, description="Base URL of the embeddings API; unset uses OPENAI_BASE_URL or OpenAI."
    )
    embedding_api_key: SecretStr | None = Field(
        None, description="API key of the embeddings API; unset uses OPENAI_API_KEY."
    )
    embedding_dimensions: int | None = Field(
        None, description="Vector size of the openai embedder (required unless known)."
    )
    embedding_timeout_s: float = Field(30.0, description="Timeout of one embeddings request.")
    embedding_batch_size: int = Field(64, description="Texts per embedding batch.")
    embedding_cache_size: int = Field(
        1024, description="Query embeddings kept in memory (repeated searches skip the model)."
    )

    # Memory behaviour
    dedup_threshold: float = Field(
        0.95, description="Cosine similarity at or above which an added message is a NOOP."
    )
    default_search_mode: Literal["hybrid", "vector", "keyword"] = Field(
        "hybrid", description="Search mode when a request does not choose one."
    )

    # Limits
    max_content_chars: int = Field(16_384, description="Longest memory content accepted.")
    max_batch_items: int = Field(1_000, description="Most memories or names in one batch call.")
    max_messages: int = Field(100, description="Most messages in one AddMemories call.")
    max_metadata_bytes: int = Field(16_384, description="Largest metadata, as JSON bytes.")
    max_metadata_depth: int = Field(8, description="Deepest nesting of metadata.")
    max_query_chars: int = Field(4_096, description="Longest search query accepted.")

    # Auth
    auth_cache_s: float = Field(5.0, description="How long a verified API key is trusted.")

    # Logs
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["json", "console"] = Field(
        "json", description="json (one object per line) or console (for people)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("MEM0STACK_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def listen_host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])
