package mem0stack_test

import (
	"context"
	"iter"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/mem0stack/mem0-stack/clients/go/mem0stack"
	v1 "github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1"
)

// GraphService and GetOperation against the test server, which has no Neo4j: every graph
// call must reach it and come back FAILED_PRECONDITION with the reason GRAPH_DISABLED.

func TestAddInAsyncModeThenWaitForTheOperation(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	user := newUser()
	infer := false
	accepted, err := c.Add(ctx, user, []*v1.Message{mem0stack.UserMessage("I take my tea without sugar")},
		&mem0stack.AddOptions{AsyncMode: true, Infer: &infer})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(accepted.GetOperation(), "users/"+user+"/operations/") || len(accepted.GetEvents()) != 0 {
		t.Fatalf("async add returned %v", accepted)
	}
	op, err := c.GetOperation(ctx, &v1.GetOperationRequest{Name: accepted.GetOperation()})
	if err != nil || op.GetName() != accepted.GetOperation() || op.GetState() == v1.Operation_FAILED {
		t.Fatalf("get operation: %v, %v", op, err)
	}
	resp, err := c.WaitOperation(ctx, accepted.GetOperation())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetEvents()) != 1 || resp.GetEvents()[0].GetMemory().GetContent() != "I take my tea without sugar" {
		t.Fatalf("the operation's response: %v", resp)
	}
	op, err = c.GetOperation(ctx, &v1.GetOperationRequest{Name: accepted.GetOperation()})
	if err != nil || op.GetState() != v1.Operation_SUCCEEDED || !op.GetDone() || op.GetEndTime() == nil {
		t.Fatalf("done operation: %v, %v", op, err)
	}

	missing := "users/" + user + "/operations/00000000-0000-0000-0000-000000000000"
	if _, err := c.GetOperation(ctx, &v1.GetOperationRequest{Name: missing}); !mem0stack.IsReason(err, v1.ErrorReason_OPERATION_NOT_FOUND) {
		t.Fatalf("unknown operation: want OPERATION_NOT_FOUND, got %v", err)
	}
	if _, err := c.WaitOperation(ctx, missing); !mem0stack.IsReason(err, v1.ErrorReason_OPERATION_NOT_FOUND) {
		t.Fatalf("waiting for an unknown operation: want OPERATION_NOT_FOUND, got %v", err)
	}
}

func TestOperationResultOfAFailedOperation(t *testing.T) {
	info, _ := anypb.New(&errdetails.ErrorInfo{Reason: "LLM_OUTPUT_INVALID", Domain: mem0stack.Domain})
	failed := &v1.Operation{
		Name:  "users/u/operations/o",
		State: v1.Operation_FAILED,
		Done:  true,
		Error: &spb.Status{Code: int32(codes.Internal), Message: "the LLM said nonsense", Details: []*anypb.Any{info}},
	}
	// Through the wire, as the server sends it.
	wire, _ := proto.Marshal(failed)
	op := &v1.Operation{}
	if err := proto.Unmarshal(wire, op); err != nil {
		t.Fatal(err)
	}
	_, err := mem0stack.OperationResult(op)
	e, ok := mem0stack.ErrorOf(err)
	if !ok || e.Code != codes.Internal || e.Reason != v1.ErrorReason_LLM_OUTPUT_INVALID || e.Message != "the LLM said nonsense" {
		t.Fatalf("want INTERNAL LLM_OUTPUT_INVALID, got %+v (%v)", e, err)
	}
}

func TestGraphCallsReachTheServer(t *testing.T) {
	c := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user := newUser()
	parent, entity := "users/"+user, "users/"+user+"/entities/00000000-0000-0000-0000-000000000001"
	calls := map[string]func() error{
		"ListEntities": func() error { _, err := c.ListEntities(ctx, &v1.ListEntitiesRequest{Parent: parent}); return err },
		"GetEntity":    func() error { _, err := c.GetEntity(ctx, &v1.GetEntityRequest{Name: entity}); return err },
		"DeleteEntity": func() error { _, err := c.DeleteEntity(ctx, &v1.DeleteEntityRequest{Name: entity}); return err },
		"ListRelations": func() error {
			_, err := c.ListRelations(ctx, &v1.ListRelationsRequest{Parent: parent})
			return err
		},
		"GetGraphStatus": func() error {
			_, err := c.GetGraphStatus(ctx, &v1.GetGraphStatusRequest{Name: parent + "/graphStatus"})
			return err
		},
		"Entities": func() error {
			return firstError(c.Entities(ctx, user, &mem0stack.EntitiesOptions{Filter: `entity_type = "person"`}))
		},
		"Relations": func() error {
			return firstError(c.Relations(ctx, user, &mem0stack.RelationsOptions{ShowInvalid: true}))
		},
		"Entity":      func() error { _, err := c.Entity(ctx, entity, &mem0stack.EntityOptions{Hops: 2}); return err },
		"GraphStatus": func() error { _, err := c.GraphStatus(ctx, user); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			e, ok := mem0stack.ErrorOf(err)
			if !ok || e.Code != codes.FailedPrecondition || e.Reason != v1.ErrorReason_GRAPH_DISABLED {
				t.Fatalf("want FAILED_PRECONDITION GRAPH_DISABLED, got %v", err)
			}
		})
	}
}

// firstError is the error that ends an iteration, if any.
func firstError[T any](seq iter.Seq2[T, error]) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}
