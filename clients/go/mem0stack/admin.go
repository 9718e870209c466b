package mem0stack

import (
	"context"
	"iter"

	v1 "github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1"
)

// The AdminService helpers. Every AdminService call needs an admin key (or a server in
// development mode); a user key gets PERMISSION_DENIED. The RPCs themselves
// (client.CreateApiKey, client.GetApiKey, client.RevokeApiKey, ...) are methods of Client.

// APIKeysOptions are the optional fields of APIKeys.
type APIKeysOptions struct {
	PageSize int32
	// ShowRevoked includes revoked keys.
	ShowRevoked bool
}

// APIKeys iterates over the API keys, oldest first, fetching pages as it goes. A key's
// secret is never listed: only CreateApiKey's response carries it. An error ends the
// iteration after being yielded once.
func (c *Client) APIKeys(ctx context.Context, opts *APIKeysOptions) iter.Seq2[*v1.ApiKey, error] {
	if opts == nil {
		opts = &APIKeysOptions{}
	}
	req := &v1.ListApiKeysRequest{PageSize: opts.PageSize, ShowRevoked: opts.ShowRevoked}
	return paginate(func(token string) ([]*v1.ApiKey, string, error) {
		req.PageToken = token
		resp, err := c.ListApiKeys(ctx, req)
		return resp.GetApiKeys(), resp.GetNextPageToken(), err
	})
}

// UsersOptions are the optional fields of Users.
type UsersOptions struct {
	// Prefix keeps the users whose id starts with it.
	Prefix   string
	PageSize int32
}

// Users iterates over the users that have memories, by user id, fetching pages as it
// goes. An error ends the iteration after being yielded once.
func (c *Client) Users(ctx context.Context, opts *UsersOptions) iter.Seq2[*v1.UserSummary, error] {
	if opts == nil {
		opts = &UsersOptions{}
	}
	req := &v1.ListUsersRequest{Prefix: opts.Prefix, PageSize: opts.PageSize}
	return paginate(func(token string) ([]*v1.UserSummary, string, error) {
		req.PageToken = token
		resp, err := c.ListUsers(ctx, req)
		return resp.GetUsers(), resp.GetNextPageToken(), err
	})
}

// UserUsage returns user's activity per day, oldest first, for the last days days ending
// today (UTC); 0 means 30.
func (c *Client) UserUsage(ctx context.Context, user string, days int32) (*v1.UserUsage, error) {
	return c.GetUserUsage(ctx, &v1.GetUserUsageRequest{Name: UserName(user) + "/usage", Days: days})
}

// Erase removes everything user stored (GDPR's right to erasure) and reports what went;
// unlike DeleteAll it keeps no revisions. It cannot be undone.
func (c *Client) Erase(ctx context.Context, user string) (*v1.EraseUserResponse, error) {
	return c.EraseUser(ctx, &v1.EraseUserRequest{Name: UserName(user)})
}

// ServerStatus reports the server's version, models, graph lag, database size and whether
// it is in development mode.
func (c *Client) ServerStatus(ctx context.Context) (*v1.ServerStatus, error) {
	return c.GetServerStatus(ctx, &v1.GetServerStatusRequest{})
}
