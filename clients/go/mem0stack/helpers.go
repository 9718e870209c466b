package mem0stack

import (
	"context"
	"fmt"
	"iter"
	"strings"

	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"

	v1 "github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1"
)

// Create stores memory verbatim as a memory of user (a user id or "users/{id}"). Only
// Content is required.
func (c *Client) Create(ctx context.Context, user string, memory *v1.Memory) (*v1.Memory, error) {
	return c.CreateMemory(ctx, &v1.CreateMemoryRequest{Parent: UserName(user), Memory: memory})
}

// AddOptions are the optional fields of Add.
type AddOptions struct {
	AgentID    string
	RunID      string
	Metadata   map[string]any
	Categories []string
	// Infer false stores each message verbatim; nil means the server's default (true).
	Infer        *bool
	Instructions string
	// AsyncMode makes the server answer at once with the name of an operation
	// (AddMemoriesResponse.Operation) and do the work in the background; see WaitOperation.
	AsyncMode bool
	RequestID string
}

// Add turns a conversation into memories of user and reports what happened to each fact.
func (c *Client) Add(ctx context.Context, user string, messages []*v1.Message, opts *AddOptions) (*v1.AddMemoriesResponse, error) {
	if opts == nil {
		opts = &AddOptions{}
	}
	meta, err := toStruct(opts.Metadata)
	if err != nil {
		return nil, err
	}
	return c.AddMemories(ctx, &v1.AddMemoriesRequest{
		Parent:       UserName(user),
		Messages:     messages,
		AgentId:      opts.AgentID,
		RunId:        opts.RunID,
		Metadata:     meta,
		Categories:   opts.Categories,
		Infer:        opts.Infer,
		Instructions: opts.Instructions,
		AsyncMode:    opts.AsyncMode,
		RequestId:    opts.RequestID,
	})
}

// UserMessage is a conversation turn of the user.
func UserMessage(content string) *v1.Message { return &v1.Message{Role: "user", Content: content} }

// SearchOptions are the optional fields of Search.
type SearchOptions struct {
	// Filter is an AIP-160 expression, e.g. `agent_id = "travel"`.
	Filter string
	// TopK is the most results (0 means 10, at most 100).
	TopK int32
	// MinScore drops results with a lower cosine similarity.
	MinScore *float32
	// Mode is HYBRID (the server's default when unset), VECTOR or KEYWORD.
	Mode        v1.SearchMemoriesRequest_Mode
	ShowExpired bool
}

// Search returns the memories of user most relevant to query, best first.
func (c *Client) Search(ctx context.Context, user, query string, opts *SearchOptions) ([]*v1.SearchResult, error) {
	if opts == nil {
		opts = &SearchOptions{}
	}
	resp, err := c.SearchMemories(ctx, &v1.SearchMemoriesRequest{
		Parent:      UserName(user),
		Query:       query,
		Filter:      opts.Filter,
		TopK:        opts.TopK,
		MinScore:    opts.MinScore,
		Mode:        opts.Mode,
		ShowExpired: opts.ShowExpired,
	})
	if err != nil {
		return nil, err
	}
	return resp.GetResults(), nil
}

// Get returns the memory named "users/{user}/memories/{memory}".
func (c *Client) Get(ctx context.Context, name string) (*v1.Memory, error) {
	return c.GetMemory(ctx, &v1.GetMemoryRequest{Name: name})
}

// ListOptions are the optional fields of List.
type ListOptions struct {
	Filter      string
	OrderBy     string
	PageSize    int32
	ShowExpired bool
}

// List iterates over every memory of user matching the options, fetching pages as it
// goes. An error ends the iteration after being yielded once:
//
//	for m, err := range client.List(ctx, "alice", nil) {
//		if err != nil { return err }
//		fmt.Println(m.GetContent())
//	}
func (c *Client) List(ctx context.Context, user string, opts *ListOptions) iter.Seq2[*v1.Memory, error] {
	if opts == nil {
		opts = &ListOptions{}
	}
	req := &v1.ListMemoriesRequest{
		Parent:      UserName(user),
		Filter:      opts.Filter,
		OrderBy:     opts.OrderBy,
		PageSize:    opts.PageSize,
		ShowExpired: opts.ShowExpired,
	}
	return paginate(func(token string) ([]*v1.Memory, string, error) {
		req.PageToken = token
		resp, err := c.ListMemories(ctx, req)
		return resp.GetMemories(), resp.GetNextPageToken(), err
	})
}

// Update changes the memory named memory.Name. paths is the update mask ("content",
// "metadata", "categories", "expire_time", "event_time"): only those fields change. With
// no paths, every one of those fields that is set in memory changes. A non-empty
// memory.Etag makes the update conditional.
func (c *Client) Update(ctx context.Context, memory *v1.Memory, paths ...string) (*v1.Memory, error) {
	req := &v1.UpdateMemoryRequest{Memory: memory}
	if len(paths) > 0 {
		req.UpdateMask = &fieldmaskpb.FieldMask{Paths: paths}
	}
	return c.UpdateMemory(ctx, req)
}

// Delete deletes one memory; its revisions stay readable.
func (c *Client) Delete(ctx context.Context, name string) error {
	_, err := c.DeleteMemory(ctx, &v1.DeleteMemoryRequest{Name: name})
	return err
}

// DeleteAll deletes every memory of user matching filter, or every memory of user when
// filter is empty, and returns how many were deleted.
func (c *Client) DeleteAll(ctx context.Context, user, filter string) (int64, error) {
	resp, err := c.BatchDeleteMemories(ctx, &v1.BatchDeleteMemoriesRequest{
		Parent:  UserName(user),
		Filter:  filter,
		Confirm: filter == "",
	})
	return resp.GetDeletedCount(), err
}

// Revisions iterates over the recorded changes of the memory name, oldest first.
func (c *Client) Revisions(ctx context.Context, name string) iter.Seq2[*v1.MemoryRevision, error] {
	req := &v1.ListMemoryRevisionsRequest{Name: name}
	return paginate(func(token string) ([]*v1.MemoryRevision, string, error) {
		req.PageToken = token
		resp, err := c.ListMemoryRevisions(ctx, req)
		return resp.GetRevisions(), resp.GetNextPageToken(), err
	})
}

// paginate turns a page fetcher into an iterator over the items of every page.
func paginate[T any](fetch func(token string) ([]T, string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		token := ""
		for {
			items, next, err := fetch(token)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, item := range items {
				if !yield(item, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			token = next
		}
	}
}

// Metadata converts a map of JSON values into the Struct of Memory.Metadata.
func Metadata(values map[string]any) (*structpb.Struct, error) { return toStruct(values) }

func toStruct(values map[string]any) (*structpb.Struct, error) {
	if values == nil {
		return nil, nil
	}
	s, err := structpb.NewStruct(values)
	if err != nil {
		return nil, fmt.Errorf("mem0stack: metadata: %w", err)
	}
	return s, nil
}

// MemoryID is the {memory} segment of a memory name.
func MemoryID(name string) string { return name[strings.LastIndex(name, "/")+1:] }
