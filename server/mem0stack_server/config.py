"""The one typed settings object of the server.

Values come from, highest priority first: keyword arguments (the CLI's flags), environment
variables prefixed ``MEM0STACK_``, a TOML file named by ``MEM0STACK_CONFIG``, then the
defaults below, which run everything embedded on one machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
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
    platform_port: int = Field(
        50052,
        ge=0,
        le=65535,
        description="Port of the mem0 Platform REST API (the routes mem0's MemoryClient calls, "
        "docs/moving-from-mem0.md), on the host of listen; 0 turns it off. Envoy serves it "
        "on the gateway's port.",
    )
    ui_dir: Path | None = Field(
        None,
        description="Directory of the built web UI (index.html, assets/) that the platform "
        "port serves at / (Envoy routes it to the gateway's /). Unset: ui/dist under the "
        "working directory, else of the source checkout, once built (make ui); none: no UI.",
    )
    metrics_listen: str = Field(
        "localhost:9464", description="Prometheus /metrics address; empty disables it."
    )
    stats_interval_s: float = Field(
        30.0,
        gt=0,
        description="How often the memory, user and database-size gauges are counted anew.",
    )
    grace_period_s: float = Field(10.0, description="How long SIGTERM waits for calls to drain.")
    rate_limit_rps: float = Field(
        0.0,
        ge=0,
        description="Requests per second each API key may send to one server process, on "
        "average (0: no limit). A key over it gets RESOURCE_EXHAUSTED (RATE_LIMITED) with "
        "RetryInfo, HTTP 429 on the mem0 routes. Each replica counts on its own.",
    )
    audit_retention_days: float = Field(
        90.0,
        ge=0,
        description="Days the access audit log keeps who read, searched, exported or deleted "
        "whose memories (docs/operations.md#access-audit-log); 0 keeps every entry.",
    )
    max_memories_per_user: int = Field(
        0,
        ge=0,
        description="Active memories each user may hold (0: no limit). A write that would "
        "go over is refused whole with RESOURCE_EXHAUSTED (QUOTA_EXCEEDED), HTTP 429 on the "
        "mem0 routes; superseded and deleted memories do not count.",
    )
    rate_limit_burst: int = Field(
        0,
        ge=0,
        description="Requests a key may send at once above the average rate; 0 means twice "
        "rate_limit_rps.",
    )
    drain_delay_s: float = Field(
        0.0,
        description="Seconds to keep serving after reporting NOT_SERVING on SIGTERM, so load "
        "balancers notice first (about twice their health-check interval).",
    )

    # TLS (docs/operations.md#tls)
    tls_cert_file: Path | None = Field(
        None,
        description="PEM certificate chain the gRPC listener presents; with tls_key_file it "
        "serves TLS only. Unset: plaintext. The TLS files are read again when they change.",
    )
    tls_key_file: Path | None = Field(
        None, description="PEM private key of tls_cert_file (unencrypted)."
    )
    tls_client_ca_file: Path | None = Field(
        None,
        description="PEM CA certificates; setting it requires every client to present a "
        "certificate they signed (mutual TLS). Needs tls_cert_file.",
    )

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
    db_connect_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Upper bound on opening one database connection; while the database is "
        "away, a call waits no longer than this to find out.",
    )
    db_probe_interval_s: float = Field(
        1.0,
        gt=0,
        description="How often the server checks that the database answers (on a connection "
        "of its own); health turns NOT_SERVING, and calls fail fast, when it does not.",
    )
    db_backoff_max_s: float = Field(
        2.0,
        gt=0,
        description="Longest wait between reconnection attempts while the database is away "
        "(the waits double from 0.1 s); the embedded one is restarted with its own backoff.",
    )
    hnsw_ef_search: int = Field(
        200,
        ge=10,
        le=1000,
        description="pgvector HNSW search breadth (recall vs speed); 200 keeps recall@10 "
        "above 0.95 at 1,000,000 memories (docs/benchmarks.md).",
    )

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
        1024,
        description="Query embeddings kept in memory (repeated searches skip the model); "
        "the local embedder keeps as many single-document ones in a cache of their own.",
    )
    embedding_int8_queries: bool = Field(
        True,
        description="local embedder: compute search-query vectors in int8 (same weights; "
        "~2x faster per query, cosine ~0.99 to the float vector, recall unchanged). Stored "
        "vectors always use the float path.",
    )

    # Memory behaviour
    dedup_threshold: float = Field(
        0.95, description="Cosine similarity at or above which an added message is a NOOP."
    )
    default_search_mode: Literal["hybrid", "vector", "keyword"] = Field(
        "hybrid", description="Search mode when a request does not choose one."
    )
    search_keyword_weight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="HYBRID search: weight of the keyword (BM25) relevance against the "
        "cosine similarity, when a request does not set keyword_weight.",
    )
    search_context_weight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Search: share of the best neighbouring memory's relevance (same run, "
        "stored just before or after) added to a memory's own; 0 turns neighbouring "
        "context off. Used by HYBRID searches that do not set context_weight.",
    )
    search_name_weight: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Search: added to the relevance of memories whose first word is a name "
        "the query uses (a capitalised word not starting a sentence); 0 turns it off. Used "
        "by HYBRID searches that do not set name_weight.",
    )
    search_context_window: int = Field(
        2,
        ge=0,
        le=10,
        description="Search: neighbouring memories considered on each side, when a request "
        "does not set context_window.",
    )
    search_assistant_context: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Search: share of neighbouring context (and of the reply boost) that a "
        "memory with role assistant receives; 0, the default, gives it none: an assistant's "
        "replies restate and elaborate what the user said, and ranked by their neighbours "
        "they crowd out the user's own words (docs/benchmarks.md, BEAM). 1 treats them like "
        "any other memory.",
    )
    search_session_gap_s: float = Field(
        1800.0,
        ge=0,
        description="Memories stored without a run_id count as one session for neighbouring "
        "context when stored within this many seconds of each other; 0 gives them no context.",
    )
    search_update_similarity: float = Field(
        0.4,
        ge=-1.0,
        le=1.0,
        description="Search: a result that states a change and is at least this similar to "
        "an older result above it is taken for a newer version of it (see "
        "search_update_window).",
    )
    search_update_window: int = Field(
        2,
        ge=0,
        le=100,
        description="Search: a newer version of a result (it says that something changed: "
        "moved, rescheduled, increased, no longer...) ranked at most this many places below "
        "it is put above it, unless the question points to the past (did, was, first, "
        "before...): a correction stored verbatim outranks what it corrects. 0 turns it off "
        "(docs/benchmarks.md, knowledge updates).",
    )

    # LLM (fact extraction and reconciliation); see docs/llm.md
    llm_model: str | None = Field(
        None,
        description="Chat model (for Azure OpenAI: the deployment name); setting it enables "
        "the LLM path of AddMemories. Unset: no LLM, user messages are stored as they are.",
    )
    llm_base_url: str | None = Field(
        None,
        description="Base URL of the OpenAI-compatible chat API (Ollama, vLLM, llama.cpp, "
        "Azure's /openai/v1/); unset uses OPENAI_BASE_URL, else api.openai.com.",
    )
    llm_api_key: SecretStr | None = Field(
        None, description="API key of the chat API; unset uses OPENAI_API_KEY."
    )
    llm_api_version: str | None = Field(
        None,
        description="Azure OpenAI api-version, only for the classic per-deployment endpoints "
        "(then llm_base_url is the resource URL); unset for every other endpoint.",
    )
    llm_temperature: float = Field(
        0.0,
        description="Sampling temperature; left out for models that reject it (reasoning models).",
    )
    llm_max_tokens: int | None = Field(
        None, description="Cap on the tokens of one LLM answer; unset leaves it to the server."
    )
    llm_timeout_s: float = Field(60.0, description="Timeout of one LLM request.")
    llm_max_retries: int = Field(
        3,
        description="Retries of an LLM request that failed with 429, 5xx, a timeout or no "
        "connection (exponential backoff with jitter, honouring Retry-After).",
    )
    llm_backoff_base_s: float = Field(0.5, description="First retry delay; it doubles per retry.")
    llm_backoff_max_s: float = Field(20.0, description="Longest delay between two retries.")
    llm_max_concurrency: int = Field(4, description="Most LLM requests in flight at once.")
    llm_breaker_failures: int = Field(
        5,
        description="Consecutive failed LLM requests that open the circuit breaker (calls then "
        "fail at once with UNAVAILABLE until it closes).",
    )
    llm_breaker_reset_s: float = Field(
        30.0, description="How long the circuit stays open before one trial request."
    )
    llm_structured_output: Literal["auto", "json_schema", "json_object", "tools", "off"] = Field(
        "auto",
        description="How JSON is asked for: auto tries json_schema, then json_object, then the "
        "prompt alone when the endpoint rejects them; tools uses a forced tool call.",
    )
    llm_repair_attempts: int = Field(
        1, description="Times an unparseable LLM answer is sent back once to be fixed."
    )
    llm_instructions: str = Field(
        "", description="Extra fact-extraction instructions for every call of this deployment."
    )
    llm_categories: list[str] = Field(
        [
            "personal_details",
            "family",
            "professional_details",
            "health",
            "food",
            "travel",
            "sports",
            "music",
            "entertainment",
            "technology",
            "hobbies",
            "fashion",
            "milestones",
            "preferences",
            "misc",
        ],
        description="Categories the LLM may assign to a memory (JSON list in the environment).",
    )
    llm_extract_agent_facts: bool = Field(
        False,
        description="With an agent_id on the request, also extract what the assistant says "
        "about itself (stored with role assistant).",
    )
    llm_candidates: int = Field(
        5, description="Similar live memories retrieved per fact for reconciliation."
    )
    llm_candidate_min_score: float = Field(
        0.2,
        description="Cosine similarity below which a memory is not shown to the LLM as a "
        "candidate; with none left the fact is added without a reconciliation call.",
    )

    # Graph memory (Neo4j); see docs/graph.md
    neo4j_uri: str | None = Field(
        None,
        description="Bolt URI of Neo4j 5.26+ (bolt://host:7687 or neo4j://...); setting it "
        "enables graph memory. Unset: no graph, everything else works unchanged.",
    )
    neo4j_user: str = Field("neo4j", description="Neo4j user.")
    neo4j_password: SecretStr | None = Field(
        None, description="Neo4j password; unset connects without authentication."
    )
    neo4j_database: str = Field("neo4j", description="Neo4j database holding the graph.")
    neo4j_timeout_s: float = Field(
        10.0, description="Upper bound on one Neo4j transaction (and on connecting)."
    )
    graph_entity_threshold: float = Field(
        0.92,
        description="Cosine similarity of two entity names at or above which they are one "
        "entity (when their types agree).",
    )
    graph_entity_candidate_score: float = Field(
        0.7,
        description="Cosine similarity above which a name that contains the other "
        '("Alice" in "Alice Smith") is the same entity, when no other entity also contains it.',
    )
    graph_query_entity_score: float = Field(
        0.6,
        description="Cosine similarity of a search query to an entity name at or above which "
        "the entity counts as named by the query (besides names found word for word).",
    )
    graph_outbox_workers: int = Field(2, description="Graph updates applied at once.")
    graph_outbox_poll_s: float = Field(
        2.0, description="How often the outbox is checked when no notification arrives."
    )
    graph_retry_max_s: float = Field(
        60.0, description="Longest wait between two attempts of a failing graph update."
    )
    graph_max_attempts: int = Field(
        8,
        description="Attempts of a graph extraction whose LLM output cannot be used before it "
        "is given up (Neo4j outages are retried without limit).",
    )

    # Background AddMemories (async_mode)
    operation_queue_size: int = Field(
        100, description="Queued background operations; more are RESOURCE_EXHAUSTED."
    )
    operation_workers: int = Field(2, description="Background operations run at once.")
    operation_timeout_s: float = Field(600.0, description="Upper bound on one operation.")
    operation_lease_s: float = Field(
        60.0,
        description="A running operation whose server stopped renewing it for this long is "
        "run again (after a crash), by any replica.",
    )
    operation_max_attempts: int = Field(
        3, description="Runs of one operation (crashes included) before it is marked failed."
    )
    operation_retention_h: float = Field(
        168.0, description="Hours a finished operation stays readable with GetOperation."
    )

    # Streams
    watch_checkpoint_s: float = Field(
        15.0, description="Idle seconds after which WatchMemories sends a checkpoint."
    )
    watch_queue_size: int = Field(
        10_000, description="Changes buffered per watcher before it is ended as too slow."
    )
    event_retention_hours: float = Field(
        168.0, description="How long the change feed keeps entries (older cursors expire)."
    )
    import_batch_size: int = Field(256, description="Memories embedded and written per batch.")

    # Expiry (docs/time.md)
    expiry_retention_hours: float = Field(
        168.0,
        ge=0,
        description="How long a memory past its expire_time is kept (hidden from list and "
        "search, readable with show_expired) before the expiry sweeper deletes it and the "
        "change feed reports it EXPIRED; 0 deletes at the first sweep after expiry.",
    )
    expiry_sweep_interval_s: float = Field(
        60.0, gt=0, description="How often each server looks for expired memories to delete."
    )

    # Webhooks (docs/webhooks.md)
    webhook_poll_s: float = Field(
        1.0,
        gt=0,
        description="How often the webhook worker looks for new changes and due retries.",
    )
    webhook_timeout_s: float = Field(
        5.0, gt=0, description="Timeout of one webhook POST (connect and response)."
    )
    webhook_retry_s: float = Field(
        86_400.0,
        ge=0,
        description="How long a failing webhook delivery is retried before it is given up "
        "(FAILED) and the next one is sent.",
    )
    webhook_backoff_initial_s: float = Field(
        1.0, gt=0, description="Wait before the first retry of a webhook delivery."
    )
    webhook_backoff_max_s: float = Field(
        300.0, gt=0, description="Longest wait between retries (the wait doubles each time)."
    )
    webhook_concurrency: int = Field(
        8, ge=1, description="Webhooks one server delivers to at the same time."
    )
    webhook_delivery_retention_hours: float = Field(
        168.0, gt=0, description="How long finished webhook deliveries stay listed."
    )

    # Limits
    max_content_chars: int = Field(16_384, description="Longest memory content accepted.")
    max_batch_items: int = Field(1_000, description="Most memories or names in one batch call.")
    max_messages: int = Field(100, description="Most messages in one AddMemories call.")
    max_metadata_bytes: int = Field(16_384, description="Largest metadata, as JSON bytes.")
    max_metadata_depth: int = Field(8, description="Deepest nesting of metadata.")
    max_query_chars: int = Field(4_096, description="Longest search query accepted.")

    # Auth
    auth: Literal["auto", "keys"] = Field(
        "auto",
        description="keys: every call needs an API key. auto: the same, except that a "
        "database that has never held a key starts in development mode (every call is "
        "admin, loopback only), decided at start-up, logged, and ended for good by the "
        "first key created.",
    )
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

    @model_validator(mode="after")
    def _tls_files_go_together(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file are set together or not at all")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError(
                "tls_client_ca_file (client certificates) needs the server's own certificate: "
                "set tls_cert_file and tls_key_file too"
            )
        return self

    @property
    def listen_host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])
