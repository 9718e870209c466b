// Command scenario runs the congruence scenario through the Go client and prints its
// normalised JSON result; tests/clients/test_congruence.py compares it with the Python and
// TypeScript clients' (tests/clients/scenario.py describes the scenario and the
// normalisation).
//
//	go run ./internal/scenario TARGET USER
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/mem0stack/mem0-stack/clients/go/mem0stack"
	v1 "github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1"
)

type seed struct {
	content    string
	metadata   map[string]any
	categories []string
}

var seeds = []seed{
	{"I like window seats", map[string]any{"topic": "travel"}, []string{"travel"}},
	{"My favourite food is ramen", map[string]any{"topic": "food"}, []string{"food"}},
	{"I am allergic to peanuts", map[string]any{"topic": "health"}, []string{"health"}},
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: scenario TARGET USER")
		os.Exit(2)
	}
	out, err := run(context.Background(), os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, target, user string) (map[string]any, error) {
	client, err := mem0stack.New(target)
	if err != nil {
		return nil, err
	}
	defer func() { _ = client.Close() }()
	out := map[string]any{}

	var names []string
	pos := func(name string) string {
		for i, n := range names {
			if n == name {
				return fmt.Sprintf("#%d", i)
			}
		}
		return "?"
	}
	memory := func(m *v1.Memory) map[string]any {
		return map[string]any{
			"name":        pos(m.GetName()),
			"content":     m.GetContent(),
			"metadata":    m.GetMetadata().AsMap(),
			"categories":  append([]string{}, m.GetCategories()...),
			"state":       m.GetState().String(),
			"memory_type": m.GetMemoryType().String(),
		}
	}
	errorOf := func(err error) any {
		if err == nil {
			return nil
		}
		e, ok := mem0stack.ErrorOf(err)
		if !ok {
			return err.Error()
		}
		return map[string]any{"code": int(e.Code), "reason": e.ReasonName}
	}

	var created []any
	for _, s := range seeds {
		md, err := mem0stack.Metadata(s.metadata)
		if err != nil {
			return nil, err
		}
		m, err := client.Create(ctx, user, &v1.Memory{Content: s.content, Metadata: md, Categories: s.categories})
		if err != nil {
			return nil, err
		}
		names = append(names, m.GetName())
		created = append(created, m)
	}
	for i, m := range created {
		created[i] = memory(m.(*v1.Memory))
	}
	out["created"] = created

	pages := [][]string{}
	req := &v1.ListMemoriesRequest{Parent: mem0stack.UserName(user), PageSize: 2}
	for {
		page, err := client.ListMemories(ctx, req)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, m := range page.GetMemories() {
			names = append(names, pos(m.GetName()))
		}
		pages = append(pages, names)
		if page.GetNextPageToken() == "" {
			break
		}
		req.PageToken = page.GetNextPageToken()
	}
	out["pages"] = pages
	listed, err := collect(ctx, client, user, &mem0stack.ListOptions{PageSize: 2}, pos)
	if err != nil {
		return nil, err
	}
	out["listed"] = listed

	results, err := client.Search(ctx, user, "what food do I like to eat?", &mem0stack.SearchOptions{TopK: 2})
	if err != nil {
		return nil, err
	}
	search := []any{}
	for _, r := range results {
		score := math.Round(float64(r.GetScore())*100) / 100
		search = append(search, map[string]any{"name": pos(r.GetMemory().GetName()), "score": score})
	}
	out["search"] = search

	ignored, _ := mem0stack.Metadata(map[string]any{"topic": "ignored"})
	updated, err := client.UpdateMemory(ctx, &v1.UpdateMemoryRequest{
		Memory:     &v1.Memory{Name: names[0], Content: "I like aisle seats", Metadata: ignored},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"content"}},
	})
	if err != nil {
		return nil, err
	}
	out["updated"] = memory(updated)

	if err := client.Delete(ctx, names[1]); err != nil {
		return nil, err
	}
	_, err = client.Get(ctx, names[1])
	out["get_deleted"] = errorOf(err)

	revisions := map[string]any{}
	for _, name := range names[:2] {
		list := []any{}
		for r, err := range client.Revisions(ctx, name) {
			if err != nil {
				return nil, err
			}
			list = append(list, map[string]any{
				"event":          r.GetEvent().String(),
				"content_before": r.GetContentBefore(),
				"content_after":  r.GetContentAfter(),
			})
		}
		revisions[pos(name)] = list
	}
	out["revisions"] = revisions

	remaining, err := collect(ctx, client, user, nil, pos)
	if err != nil {
		return nil, err
	}
	out["remaining"] = remaining

	_, err = collect(ctx, client, user, &mem0stack.ListOptions{Filter: `colour = "red"`}, pos)
	out["bad_filter"] = errorOf(err)
	return out, nil
}

func collect(ctx context.Context, client *mem0stack.Client, user string, opts *mem0stack.ListOptions, pos func(string) string) ([]string, error) {
	names := []string{}
	for m, err := range client.List(ctx, user, opts) {
		if err != nil {
			return nil, err
		}
		names = append(names, pos(m.GetName()))
	}
	return names, nil
}
