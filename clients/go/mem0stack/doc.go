// Package mem0stack is the Go client of mem0-stack, the self-hosted long-term memory
// server for LLM applications.
//
// The generated messages and the raw gRPC client live in package
// github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1 (imported here as v1). This
// package adds what every caller would otherwise write: a connection built from a target,
// an API key and TLS options; a default deadline on every call; retries with backoff for
// UNAVAILABLE; request ids on creating calls so that retries are safe; every RPC of every
// service (MemoryService, GraphService, WebhookService, AdminService) as a method of Client;
// helpers for the common calls with pagination iterators (memories, revisions, graph
// entities and relations, API keys, users) and a wait for background operations; and errors
// whose ErrorInfo reason is a typed v1.ErrorReason.
//
//	client, err := mem0stack.New("localhost:50051", mem0stack.WithAPIKey(key))
//	if err != nil { ... }
//	defer client.Close()
//	m, err := client.Create(ctx, "alice", &v1.Memory{Content: "Prefers window seats"})
//	for m, err := range client.List(ctx, "alice", nil) { ... }
//	if mem0stack.ReasonOf(err) == v1.ErrorReason_MEMORY_NOT_FOUND { ... }
package mem0stack
