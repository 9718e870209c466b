package mem0stack

import (
	"crypto/tls"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// DefaultTarget is where `mem0stack serve` listens when it is not configured.
const DefaultTarget = "localhost:50051"

// DefaultTimeout bounds a unary call (all its attempts together) whose context has no
// deadline of its own.
const DefaultTimeout = 30 * time.Second

// RetryPolicy says how calls that fail with a retryable code (UNAVAILABLE) are retried.
//
// The n-th retry waits InitialBackoff * Multiplier^(n-1), capped at MaxBackoff, with jitter
// (a random 50-100% of it), or longer when the server's RetryInfo asks for more. Retries
// never outlast the call's deadline. MaxAttempts 1 turns retries off.
type RetryPolicy struct {
	MaxAttempts    int
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Multiplier     float64
	RetryableCodes []codes.Code
}

// DefaultRetryPolicy is used unless WithRetryPolicy says otherwise.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:    4,
	InitialBackoff: 100 * time.Millisecond,
	MaxBackoff:     5 * time.Second,
	Multiplier:     2,
	RetryableCodes: []codes.Code{codes.Unavailable},
}

func (p RetryPolicy) retryable(code codes.Code) bool {
	for _, c := range p.RetryableCodes {
		if c == code {
			return true
		}
	}
	return false
}

// backoff is the wait before retry number n (1 for the first retry).
func (p RetryPolicy) backoff(n int, serverDelay time.Duration) time.Duration {
	delay := float64(p.InitialBackoff)
	for i := 1; i < n; i++ {
		delay *= p.Multiplier
	}
	delay = min(delay, float64(p.MaxBackoff))
	wait := time.Duration(delay * (0.5 + rand.Float64()/2))
	return max(wait, serverDelay)
}

type options struct {
	apiKey      string
	tls         *tls.Config
	tlsSet      bool
	timeout     time.Duration
	retry       RetryPolicy
	dialOptions []grpc.DialOption
}

// Option configures a Client.
type Option func(*options)

// WithAPIKey sends key as `authorization: Bearer <key>` on every call. Leave it out for a
// server in development mode (no keys created yet).
func WithAPIKey(key string) Option { return func(o *options) { o.apiKey = key } }

// WithTLS uses TLS with cfg (nil means the system's roots). Without WithTLS or
// WithInsecure, loopback targets are dialled in plaintext and any other with TLS.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) {
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		o.tls, o.tlsSet = cfg, true
	}
}

// WithInsecure dials in plaintext whatever the target.
func WithInsecure() Option { return func(o *options) { o.tls, o.tlsSet = nil, true } }

// WithTimeout sets the deadline of unary calls whose context has none (default 30 s).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option { return func(o *options) { o.retry = p } }

// WithDialOptions adds gRPC dial options (interceptors, keepalive, ...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

// isLoopback reports whether target (host:port, optionally with a scheme) is this machine.
func isLoopback(target string) bool {
	if i := strings.Index(target, "://"); i >= 0 {
		target = target[i+3:]
	}
	if strings.HasPrefix(target, "unix:") {
		return true
	}
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
