// Command quickstart stores, searches, lists, updates and deletes memories with the
// mem0-stack Go client.
//
//	mem0stack serve &                 # a server on localhost:50051
//	cd clients/go && go run ./examples/quickstart
//
// MEM0STACK_TARGET and MEM0STACK_API_KEY point it elsewhere.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mem0stack/mem0-stack/clients/go/mem0stack"
	v1 "github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1"
)

func main() {
	target := os.Getenv("MEM0STACK_TARGET")
	if target == "" {
		target = mem0stack.DefaultTarget
	}
	client, err := mem0stack.New(target, mem0stack.WithAPIKey(os.Getenv("MEM0STACK_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = client.Close() }()
	ctx := context.Background()
	user := fmt.Sprintf("quickstart-%d", time.Now().UnixNano())

	meta, _ := mem0stack.Metadata(map[string]any{"topic": "travel"})
	seat, err := client.Create(ctx, user, &v1.Memory{Content: "Prefers window seats", Metadata: meta})
	if err != nil {
		log.Fatal(err)
	}
	msgs := []*v1.Message{mem0stack.UserMessage("I am allergic to peanuts"), mem0stack.UserMessage("My favourite food is ramen")}
	if _, err := client.Add(ctx, user, msgs, nil); err != nil {
		log.Fatal(err)
	}

	results, err := client.Search(ctx, user, "what should I cook?", &mem0stack.SearchOptions{TopK: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("search 'what should I cook?':")
	for _, r := range results {
		fmt.Printf("  %.2f  %s\n", r.GetScore(), r.GetMemory().GetContent())
	}

	fmt.Println("all memories, newest first:")
	for m, err := range client.List(ctx, user, &mem0stack.ListOptions{PageSize: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("  " + m.GetContent())
	}

	if _, err := client.Update(ctx, &v1.Memory{Name: seat.GetName(), Content: "Prefers aisle seats"}, "content"); err != nil {
		log.Fatal(err)
	}
	for r, err := range client.Revisions(ctx, seat.GetName()) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("revision: %q -> %q\n", r.GetContentBefore(), r.GetContentAfter())
	}

	if err := client.Delete(ctx, seat.GetName()); err != nil {
		log.Fatal(err)
	}
	if _, err := client.Get(ctx, seat.GetName()); mem0stack.IsReason(err, v1.ErrorReason_MEMORY_NOT_FOUND) {
		fmt.Println("after delete: MEMORY_NOT_FOUND")
	} else {
		log.Fatalf("expected MEMORY_NOT_FOUND, got %v", err)
	}
	n, err := client.DeleteAll(ctx, user, "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("deleted the remaining %d memories\n", n)
}
