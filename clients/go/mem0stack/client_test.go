package mem0stack_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mem0stack/mem0-stack/clients/go/mem0stack"
	v1 "github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1"
)

// These tests run against a live server: `make test-clients-go` starts one on the
// embedded default and sets MEM0STACK_TEST_TARGET. Each test uses a user of its own.

func connect(t *testing.T, opts ...mem0stack.Option) *mem0stack.Client {
	t.Helper()
	target := os.Getenv("MEM0STACK_TEST_TARGET")
	if target == "" {
		t.Skip("MEM0STACK_TEST_TARGET is not set; run `make test-clients-go`")
	}
	client, err := mem0stack.New(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func newUser() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "go-" + hex.EncodeToString(b)
}

func mustCreate(t *testing.T, c *mem0stack.Client, user, content string, meta map[string]any) *v1.Memory {
	t.Helper()
	md, err := mem0stack.Metadata(meta)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Create(context.Background(), user, &v1.Memory{Content: content, Metadata: md})
	if err != nil {
		t.Fatalf("create %q: %v", content, err)
	}
	return m
}

func TestCreateGetAndErrorReason(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	user := newUser()
	m := mustCreate(t, c, user, "Prefers window seats", map[string]any{"topic": "travel"})
	if m.GetName() != "users/"+user+"/memories/"+m.GetUid() || m.GetState() != v1.Memory_ACTIVE {
		t.Fatalf("unexpected memory %v", m)
	}
	got, err := c.Get(ctx, m.GetName())
	if err != nil {
		t.Fatal(err)
	}
	if got.GetContent() != "Prefers window seats" || got.GetMetadata().GetFields()["topic"].GetStringValue() != "travel" {
		t.Fatalf("get returned %v", got)
	}

	_, err = c.Get(ctx, "users/"+user+"/memories/00000000-0000-0000-0000-000000000000")
	if !mem0stack.IsReason(err, v1.ErrorReason_MEMORY_NOT_FOUND) {
		t.Fatalf("want MEMORY_NOT_FOUND, got %v", err)
	}
	e, ok := mem0stack.ErrorOf(err)
	if !ok || e.Code != codes.NotFound || e.Domain != mem0stack.Domain || e.Metadata["name"] == "" {
		t.Fatalf("error details: %+v", e)
	}

	_, err = c.Create(ctx, user, &v1.Memory{Content: ""})
	e, _ = mem0stack.ErrorOf(err)
	if e == nil || e.Code != codes.InvalidArgument || len(e.FieldViolations) == 0 {
		t.Fatalf("empty content: want INVALID_ARGUMENT with a field violation, got %v", err)
	}
}

func TestListAcrossPages(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	user := newUser()
	var want []string
	for _, text := range []string{"one", "two", "three", "four", "five"} {
		mustCreate(t, c, user, "memory "+text, nil)
		want = append([]string{"memory " + text}, want...) // newest first
	}
	var got []string
	for m, err := range c.List(ctx, user, &mem0stack.ListOptions{PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.GetContent())
	}
	if len(got) != len(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("listed %v, want %v", got, want)
		}
	}

	// Stopping early fetches no further page and does not panic.
	n := 0
	for range c.List(ctx, user, &mem0stack.ListOptions{PageSize: 2}) {
		n++
		if n == 3 {
			break
		}
	}

	for _, err := range c.List(ctx, user, &mem0stack.ListOptions{Filter: "colour = 1"}) {
		if !mem0stack.IsReason(err, v1.ErrorReason_UNKNOWN_FILTER_FIELD) {
			t.Fatalf("want UNKNOWN_FILTER_FIELD, got %v", err)
		}
	}
}

func TestSearch(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	user := newUser()
	mustCreate(t, c, user, "My favourite food is ramen", nil)
	mustCreate(t, c, user, "I am allergic to peanuts", nil)
	mustCreate(t, c, user, "I work as a nurse in Lyon", nil)
	results, err := c.Search(ctx, user, "what food do I like to eat?", &mem0stack.SearchOptions{TopK: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].GetMemory().GetContent() != "My favourite food is ramen" {
		t.Fatalf("search returned %v", results)
	}
	if results[0].GetScore() < results[1].GetScore() {
		t.Fatalf("results are not best first: %v", results)
	}
}

func TestUpdateWithMaskAndRevisions(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	user := newUser()
	m := mustCreate(t, c, user, "I like window seats", map[string]any{"topic": "travel"})

	other, _ := structpb.NewStruct(map[string]any{"topic": "ignored"})
	updated, err := c.Update(ctx, &v1.Memory{Name: m.GetName(), Content: "I like aisle seats", Metadata: other}, "content")
	if err != nil {
		t.Fatal(err)
	}
	if updated.GetContent() != "I like aisle seats" || updated.GetMetadata().GetFields()["topic"].GetStringValue() != "travel" {
		t.Fatalf("the mask was not respected: %v", updated)
	}
	if updated.GetEtag() == m.GetEtag() {
		t.Fatal("etag did not change")
	}

	// A stale etag is refused.
	_, err = c.Update(ctx, &v1.Memory{Name: m.GetName(), Content: "x", Etag: m.GetEtag()}, "content")
	if !mem0stack.IsReason(err, v1.ErrorReason_ETAG_MISMATCH) {
		t.Fatalf("want ETAG_MISMATCH, got %v", err)
	}

	if err := c.Delete(ctx, m.GetName()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, m.GetName()); !mem0stack.IsReason(err, v1.ErrorReason_MEMORY_NOT_FOUND) {
		t.Fatalf("deleted memory: want MEMORY_NOT_FOUND, got %v", err)
	}

	var events []v1.MemoryRevision_Event
	var revisions []*v1.MemoryRevision
	for r, err := range c.Revisions(ctx, m.GetName()) {
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, r.GetEvent())
		revisions = append(revisions, r)
	}
	want := []v1.MemoryRevision_Event{v1.MemoryRevision_CREATE, v1.MemoryRevision_UPDATE, v1.MemoryRevision_DELETE}
	if len(events) != len(want) || events[0] != want[0] || events[1] != want[1] || events[2] != want[2] {
		t.Fatalf("revisions %v, want %v", events, want)
	}
	if revisions[1].GetContentBefore() != "I like window seats" || revisions[1].GetContentAfter() != "I like aisle seats" {
		t.Fatalf("update revision %v", revisions[1])
	}
	// The client gave the creating call a request id of its own (safe retries).
	if revisions[0].GetRequestId() == "" {
		t.Fatal("CreateMemory was sent without a request_id")
	}
}

func TestAddAndDeleteAll(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	user := newUser()
	resp, err := c.Add(ctx, user, []*v1.Message{
		mem0stack.UserMessage("I moved to Berlin last year"),
		{Role: "assistant", Content: "Nice, how do you like it?"},
	}, &mem0stack.AddOptions{AgentID: "travel"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetEvents()) != 1 || resp.GetEvents()[0].GetType() != v1.MemoryEvent_ADD ||
		resp.GetEvents()[0].GetMemory().GetAgentId() != "travel" {
		t.Fatalf("add returned %v", resp)
	}
	mustCreate(t, c, user, "Another memory", nil)
	n, err := c.DeleteAll(ctx, user, "")
	if err != nil || n != 2 {
		t.Fatalf("delete all: %d, %v", n, err)
	}
	for _, err := range c.List(ctx, user, nil) {
		t.Fatalf("memories left after DeleteAll (err %v)", err)
	}
}

func TestRetriesUnavailableWithBackoff(t *testing.T) {
	// A port nobody listens on: every attempt fails with UNAVAILABLE.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := l.Addr().String()
	_ = l.Close()

	attempts := 0
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		attempts++
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	policy := mem0stack.DefaultRetryPolicy
	policy.MaxAttempts, policy.InitialBackoff = 3, 20*time.Millisecond
	client, err := mem0stack.New(target,
		mem0stack.WithRetryPolicy(policy),
		mem0stack.WithDialOptions(grpc.WithChainUnaryInterceptor(count)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Close() }()
	_, err = client.Get(context.Background(), "users/x/memories/y")
	if e, ok := mem0stack.ErrorOf(err); !ok || e.Code != codes.Unavailable {
		t.Fatalf("want UNAVAILABLE, got %v", err)
	}
	if attempts != 3 {
		t.Fatalf("made %d attempts, want 3", attempts)
	}
}

func TestDefaultDeadline(t *testing.T) {
	// A listener that accepts but never speaks HTTP/2: only the deadline ends the call.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer func() { _ = conn.Close() }()
		}
	}()
	client, err := mem0stack.New(l.Addr().String(), mem0stack.WithTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Close() }()
	start := time.Now()
	_, err = client.Get(context.Background(), "users/x/memories/y")
	if e, ok := mem0stack.ErrorOf(err); !ok || (e.Code != codes.DeadlineExceeded && e.Code != codes.Unavailable) {
		t.Fatalf("want DEADLINE_EXCEEDED, got %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("the default deadline did not apply: the call took %v", elapsed)
	}
}

func TestWatchExportAndImportStreams(t *testing.T) {
	c := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user := newUser()

	watch, err := c.WatchMemories(ctx, &v1.WatchMemoriesRequest{Parent: "users/" + user})
	if err != nil {
		t.Fatal(err)
	}
	// The server sends headers once the watch's start position is fixed.
	if _, err := watch.Header(); err != nil {
		t.Fatal(err)
	}
	created := mustCreate(t, c, user, "streamed fact", nil)
	var change *v1.WatchMemoriesResponse
	for change == nil || change.GetCheckpoint() {
		if change, err = watch.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	if change.GetChange().GetType() != v1.MemoryChange_CREATED || change.GetChange().GetMemory().GetName() != created.GetName() {
		t.Fatalf("unexpected change %v", change)
	}

	export, err := c.ExportMemories(ctx, &v1.ExportMemoriesRequest{Parent: "users/" + user})
	if err != nil {
		t.Fatal(err)
	}
	exported, err := export.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if exported.GetMemory().GetContent() != "streamed fact" || exported.GetCursor() == "" {
		t.Fatalf("unexpected export %v", exported)
	}

	upload, err := c.ImportMemories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	copyUser := user + "-copy"
	for i := 0; i < 2; i++ { // the same source twice: the second is skipped
		req := &v1.ImportMemoriesRequest{Memory: exported.GetMemory(), SourceId: exported.GetMemory().GetUid()}
		if i == 0 {
			req.Parent = "users/" + copyUser
		}
		if err := upload.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	summary, err := upload.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if summary.GetImported() != 1 || summary.GetSkipped() != 1 {
		t.Fatalf("unexpected import summary %v", summary)
	}
}
