package mem0stack

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	v1 "github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1"
)

// Client is a connection to a mem0-stack server. It is safe for concurrent use.
//
// Every RPC of every service of mem0stack.v1 is a method of Client: it embeds the generated
// v1.MemoryServiceClient, v1.GraphServiceClient, v1.WebhookServiceClient and
// v1.AdminServiceClient, so client.ListMemories(ctx, req), client.ListEntities(ctx, req),
// client.CreateWebhook(ctx, req) and client.CreateApiKey(ctx, req) work, with the client's
// deadline, API key and retries applied. The helpers (Create, Add, Search, List,
// WaitOperation, Entities, APIKeys, Users, ...) build the requests.
type Client struct {
	v1.MemoryServiceClient
	v1.GraphServiceClient
	v1.WebhookServiceClient
	// AdminService's methods need an admin key (or a server in development mode); a user
	// key gets PERMISSION_DENIED.
	v1.AdminServiceClient
	conn *grpc.ClientConn
	opts options
}

// creatingMethods get a request_id when the caller sent none, so that a retry after
// UNAVAILABLE cannot store the same memory twice (the server replays the first response).
var creatingMethods = map[string]bool{
	v1.MemoryService_CreateMemory_FullMethodName:        true,
	v1.MemoryService_BatchCreateMemories_FullMethodName: true,
	v1.MemoryService_AddMemories_FullMethodName:         true,
}

// New connects to target ("host:port"). The connection is made lazily, on the first call.
func New(target string, opts ...Option) (*Client, error) {
	o := options{timeout: DefaultTimeout, retry: DefaultRetryPolicy}
	for _, opt := range opts {
		opt(&o)
	}
	if !o.tlsSet && !isLoopback(target) {
		WithTLS(nil)(&o)
	}
	creds := insecure.NewCredentials()
	if o.tls != nil {
		creds = credentials.NewTLS(o.tls)
	}
	c := &Client{opts: o}
	dial := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("mem0stack-go/0.1"),
		// Retries are ours (with RetryInfo and request ids); gRPC's would stack on them.
		grpc.WithDisableRetry(),
		grpc.WithChainUnaryInterceptor(c.unaryInterceptor),
		grpc.WithChainStreamInterceptor(c.streamInterceptor),
	}, o.dialOptions...)
	conn, err := grpc.NewClient(target, dial...)
	if err != nil {
		return nil, fmt.Errorf("mem0stack: connecting to %s: %w", target, err)
	}
	c.conn = conn
	c.MemoryServiceClient = v1.NewMemoryServiceClient(conn)
	c.GraphServiceClient = v1.NewGraphServiceClient(conn)
	c.WebhookServiceClient = v1.NewWebhookServiceClient(conn)
	c.AdminServiceClient = v1.NewAdminServiceClient(conn)
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Conn is the underlying gRPC connection, e.g. for the health service.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

func (c *Client) withAuth(ctx context.Context) context.Context {
	if c.opts.apiKey == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.opts.apiKey)
}

func (c *Client) unaryInterceptor(
	ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption,
) error {
	if _, ok := ctx.Deadline(); !ok && c.opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.timeout)
		defer cancel()
	}
	ctx = c.withAuth(ctx)
	if creatingMethods[method] {
		req = withRequestID(req)
	}
	policy := c.opts.retry
	for attempt := 1; ; attempt++ {
		err := invoker(ctx, method, req, reply, cc, callOpts...)
		if err == nil || attempt >= policy.MaxAttempts {
			return err
		}
		st, _ := status.FromError(err)
		if !policy.retryable(st.Code()) {
			return err
		}
		var serverDelay time.Duration
		if e, ok := ErrorOf(err); ok {
			serverDelay = e.RetryDelay
		}
		wait := policy.backoff(attempt, serverDelay)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			return err
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
	}
}

// streamInterceptor adds the API key. Streams get no default deadline (a watch may
// rightly run for hours) and are not retried here: resuming one needs its cursor.
func (c *Client) streamInterceptor(
	ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
	streamer grpc.Streamer, callOpts ...grpc.CallOption,
) (grpc.ClientStream, error) {
	return streamer(c.withAuth(ctx), desc, cc, method, callOpts...)
}

// withRequestID returns req, or a copy of it with a fresh request_id when it has an
// empty request_id field.
func withRequestID(req any) any {
	msg, ok := req.(proto.Message)
	if !ok {
		return req
	}
	field := msg.ProtoReflect().Descriptor().Fields().ByName("request_id")
	if field == nil || field.Kind() != protoreflect.StringKind || msg.ProtoReflect().Get(field).String() != "" {
		return req
	}
	clone := proto.Clone(msg)
	clone.ProtoReflect().Set(field, protoreflect.ValueOfString(newUUID()))
	return clone
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// UserName is "users/{user}" for a bare user id; a name with the prefix is kept.
func UserName(user string) string {
	if strings.HasPrefix(user, "users/") {
		return user
	}
	return "users/" + user
}
