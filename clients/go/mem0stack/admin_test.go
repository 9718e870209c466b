package mem0stack_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mem0stack/mem0-stack/clients/go/mem0stack"
	v1 "github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1"
)

// AdminService against a server that requires keys: `make test-clients-go` starts one with
// an admin key (MEM0STACK_TEST_ADMIN_TARGET, MEM0STACK_TEST_ADMIN_KEY). Not the
// development-mode server of the other tests: the first key created there would end
// development mode and lock them out.

func connectAdmin(t *testing.T) (*mem0stack.Client, string) {
	t.Helper()
	target, key := os.Getenv("MEM0STACK_TEST_ADMIN_TARGET"), os.Getenv("MEM0STACK_TEST_ADMIN_KEY")
	if target == "" || key == "" {
		t.Skip("MEM0STACK_TEST_ADMIN_TARGET is not set; run `make test-clients-go`")
	}
	client, err := mem0stack.New(target, mem0stack.WithAPIKey(key))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client, target
}

func TestAdminKeysAndServerStatus(t *testing.T) {
	c, target := connectAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user := newUser()

	made, err := c.CreateApiKey(ctx, &v1.CreateApiKeyRequest{ApiKey: &v1.ApiKey{
		Role: v1.ApiKey_USER, Users: []string{user}, Label: "go client test",
	}})
	if err != nil {
		t.Fatal(err)
	}
	name := made.GetApiKey().GetName()
	if !strings.HasPrefix(made.GetKey(), "m0s_") || name != "apiKeys/"+strings.Split(made.GetKey(), "_")[1] {
		t.Fatalf("created %v", made)
	}
	got, err := c.GetApiKey(ctx, &v1.GetApiKeyRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetRole() != v1.ApiKey_USER || !slices.Equal(got.GetUsers(), []string{user}) || got.GetLabel() != "go client test" {
		t.Fatalf("got %v", got)
	}

	// Pages of one, so the iterator has to follow next_page_token.
	var listed []string
	for key, err := range c.APIKeys(ctx, &mem0stack.APIKeysOptions{PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, key.GetName())
	}
	if len(listed) < 2 || !slices.Contains(listed, name) {
		t.Fatalf("listed %v: want the admin key and %s", listed, name)
	}

	// The new key is a user key: the AdminService refuses it.
	asUser, err := mem0stack.New(target, mem0stack.WithAPIKey(made.GetKey()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = asUser.Close() }()
	if _, err := asUser.ServerStatus(ctx); !mem0stack.IsReason(err, v1.ErrorReason_PERMISSION_DENIED) {
		t.Fatalf("a user key: want PERMISSION_DENIED, got %v", err)
	}

	if _, err := c.RevokeApiKey(ctx, &v1.RevokeApiKeyRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	_, err = c.RevokeApiKey(ctx, &v1.RevokeApiKeyRequest{Name: name})
	if e, ok := mem0stack.ErrorOf(err); !ok || e.Code != codes.FailedPrecondition || e.Reason != v1.ErrorReason_API_KEY_REVOKED {
		t.Fatalf("revoking twice: want FAILED_PRECONDITION API_KEY_REVOKED, got %v", err)
	}
	for key, err := range c.APIKeys(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if key.GetName() == name {
			t.Fatalf("the revoked key %s is listed without ShowRevoked", name)
		}
	}

	status, err := c.ServerStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status.GetVersion() == "" || status.GetEmbeddingDimension() <= 0 || status.GetDevelopmentMode() || status.GetStartTime() == nil {
		t.Fatalf("server status %v", status)
	}
}

func TestAdminUsersUsageAndErase(t *testing.T) {
	c, _ := connectAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user := newUser()
	mustCreate(t, c, user, "Prefers window seats", nil)
	mustCreate(t, c, user, "Allergic to peanuts", nil)

	var users []*v1.UserSummary
	for u, err := range c.Users(ctx, &mem0stack.UsersOptions{Prefix: user}) {
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	if len(users) != 1 || users[0].GetName() != "users/"+user || users[0].GetActiveMemories() != 2 {
		t.Fatalf("users %v", users)
	}

	usage, err := c.UserUsage(ctx, user, 3)
	if err != nil {
		t.Fatal(err)
	}
	created := int64(0)
	for _, day := range usage.GetDays() {
		created += day.GetMemoriesCreated()
	}
	if usage.GetName() != "users/"+user+"/usage" || len(usage.GetDays()) != 3 || created != 2 {
		t.Fatalf("usage %v", usage)
	}

	erased, err := c.Erase(ctx, user)
	if err != nil || erased.GetMemories() != 2 {
		t.Fatalf("erase: %v, %v", erased, err)
	}
	for u, err := range c.Users(ctx, &mem0stack.UsersOptions{Prefix: user}) {
		t.Fatalf("users left after Erase: %v (err %v)", u, err)
	}
}
