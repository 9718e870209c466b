package mem0stack_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mem0stack/mem0-stack/clients/go/mem0stack"
)

// `make test-clients-go` also starts a server that requires client certificates, from a CA
// made for the run (tests/support/run_server_for.py --tls), and names its files here.

func tlsFiles(t *testing.T) (target string, roots *x509.CertPool, client tls.Certificate) {
	t.Helper()
	target = os.Getenv("MEM0STACK_TEST_TLS_TARGET")
	if target == "" {
		t.Skip("MEM0STACK_TEST_TLS_TARGET is not set; run `make test-clients-go`")
	}
	pem, err := os.ReadFile(os.Getenv("MEM0STACK_TEST_CA_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in MEM0STACK_TEST_CA_FILE")
	}
	client, err = tls.LoadX509KeyPair(os.Getenv("MEM0STACK_TEST_CLIENT_CERT"), os.Getenv("MEM0STACK_TEST_CLIENT_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	return target, roots, client
}

func TestMutualTLSWithAPrivateCA(t *testing.T) {
	target, roots, certificate := tlsFiles(t)
	ctx := context.Background()
	member, err := mem0stack.New(target, mem0stack.WithTLS(&tls.Config{
		MinVersion: tls.VersionTLS12, RootCAs: roots, Certificates: []tls.Certificate{certificate},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	user := newUser()
	m := mustCreate(t, member, user, "Reached over mutual TLS", nil)
	if got, err := member.Get(ctx, m.GetName()); err != nil || got.GetContent() != "Reached over mutual TLS" {
		t.Fatalf("get over mutual TLS: %v %v", got, err)
	}

	once := mem0stack.RetryPolicy{MaxAttempts: 1}
	refused := map[string]*tls.Config{
		// The CA, but no client certificate.
		"no client certificate": {MinVersion: tls.VersionTLS12, RootCAs: roots},
		// A client certificate, but the system's roots, which do not know the CA.
		"system roots": {MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{certificate}},
	}
	for what, cfg := range refused {
		c, err := mem0stack.New(target, mem0stack.WithTLS(cfg), mem0stack.WithRetryPolicy(once),
			mem0stack.WithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Get(ctx, m.GetName())
		_ = c.Close()
		if e, ok := mem0stack.ErrorOf(err); !ok || e.Code != codes.Unavailable {
			t.Fatalf("%s: want UNAVAILABLE, got %v", what, err)
		}
	}
}
