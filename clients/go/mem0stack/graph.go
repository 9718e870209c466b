package mem0stack

import (
	"context"
	"fmt"
	"iter"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1"
)

// operationPollInterval is how often WaitOperation reads an operation that is not done.
const operationPollInterval = 200 * time.Millisecond

// WaitOperation reads the background AddMemories call name ("users/{user}/operations/{id}",
// from Add with AddOptions.AsyncMode) until it is done, and returns its response. A FAILED
// operation returns its error as a gRPC status error, which ErrorOf and IsReason read like
// any other. The wait ends with ctx, or after the client's timeout when ctx has no deadline.
// The operation itself (state, times, attempts) is client.GetOperation(ctx, req).
func (c *Client) WaitOperation(ctx context.Context, name string) (*v1.AddMemoriesResponse, error) {
	if _, ok := ctx.Deadline(); !ok && c.opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.timeout)
		defer cancel()
	}
	for {
		op, err := c.GetOperation(ctx, &v1.GetOperationRequest{Name: name})
		if err != nil {
			return nil, err
		}
		if op.GetDone() {
			return OperationResult(op)
		}
		timer := time.NewTimer(operationPollInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-timer.C:
		}
	}
}

// OperationResult is the outcome of a done operation: the AddMemoriesResponse of a
// SUCCEEDED one, the error (a gRPC status error) of a FAILED one.
func OperationResult(op *v1.Operation) (*v1.AddMemoriesResponse, error) {
	if op.GetState() == v1.Operation_FAILED {
		return nil, status.ErrorProto(operationError(op))
	}
	resp := &v1.AddMemoriesResponse{}
	if err := op.GetResponse().UnmarshalTo(resp); err != nil {
		return nil, fmt.Errorf("mem0stack: the response of %s: %w", op.GetName(), err)
	}
	return resp, nil
}

// operationError is a FAILED operation's error, or UNKNOWN if the server sent none.
func operationError(op *v1.Operation) *spb.Status {
	if st := op.GetError(); st != nil {
		return st
	}
	return &spb.Status{Code: int32(codes.Unknown), Message: op.GetName() + " failed"}
}

// EntitiesOptions are the optional fields of Entities.
type EntitiesOptions struct {
	// Filter is an AIP-160 expression over display_name, entity_type, alias, is_user,
	// memory, create_time and update_time, e.g. `entity_type = "person"`.
	Filter   string
	PageSize int32
}

// Entities iterates over the entities of user's graph, by display name, fetching pages as
// it goes. An error ends the iteration after being yielded once.
func (c *Client) Entities(ctx context.Context, user string, opts *EntitiesOptions) iter.Seq2[*v1.Entity, error] {
	if opts == nil {
		opts = &EntitiesOptions{}
	}
	req := &v1.ListEntitiesRequest{Parent: UserName(user), Filter: opts.Filter, PageSize: opts.PageSize}
	return paginate(func(token string) ([]*v1.Entity, string, error) {
		req.PageToken = token
		resp, err := c.ListEntities(ctx, req)
		return resp.GetEntities(), resp.GetNextPageToken(), err
	})
}

// RelationsOptions are the optional fields of Relations.
type RelationsOptions struct {
	// Filter is an AIP-160 expression over relation, source, target, entity, state, ...,
	// e.g. `relation = "works_at"`.
	Filter   string
	PageSize int32
	// ShowInvalid includes INVALID relations (the history).
	ShowInvalid bool
}

// Relations iterates over the relations of user's graph, newest first, fetching pages as
// it goes. An error ends the iteration after being yielded once.
func (c *Client) Relations(ctx context.Context, user string, opts *RelationsOptions) iter.Seq2[*v1.Relation, error] {
	if opts == nil {
		opts = &RelationsOptions{}
	}
	req := &v1.ListRelationsRequest{
		Parent:      UserName(user),
		Filter:      opts.Filter,
		PageSize:    opts.PageSize,
		ShowInvalid: opts.ShowInvalid,
	}
	return paginate(func(token string) ([]*v1.Relation, string, error) {
		req.PageToken = token
		resp, err := c.ListRelations(ctx, req)
		return resp.GetRelations(), resp.GetNextPageToken(), err
	})
}

// EntityOptions are the optional fields of Entity.
type EntityOptions struct {
	// Hops is how far the neighbourhood reaches: 0 or 1, the entity's own relations; 2 adds
	// its neighbours' relations.
	Hops int32
	// RelationLimit is the most relations returned (0 means 100), newest first.
	RelationLimit int32
	ShowInvalid   bool
}

// Entity returns the entity name ("users/{user}/entities/{entity}") with its
// neighbourhood: relations and the entities at their other ends.
func (c *Client) Entity(ctx context.Context, name string, opts *EntityOptions) (*v1.GetEntityResponse, error) {
	if opts == nil {
		opts = &EntityOptions{}
	}
	return c.GetEntity(ctx, &v1.GetEntityRequest{
		Name:          name,
		Hops:          opts.Hops,
		RelationLimit: opts.RelationLimit,
		ShowInvalid:   opts.ShowInvalid,
	})
}

// GraphStatus tells how many graph updates of user still wait to be applied, and the last
// error.
func (c *Client) GraphStatus(ctx context.Context, user string) (*v1.GraphStatus, error) {
	return c.GetGraphStatus(ctx, &v1.GetGraphStatusRequest{Name: UserName(user) + "/graphStatus"})
}
