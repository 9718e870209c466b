package mem0stack

import (
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1"
)

// Domain is the ErrorInfo domain of every error the server raises.
const Domain = "mem0stack.dev"

// FieldViolation is one invalid field of a request, from the error's BadRequest detail.
type FieldViolation struct {
	Field       string
	Description string
}

// Error is the decoded google.rpc.Status of a failed call.
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the human-readable message; do not branch on it.
	Message string
	// Reason is the ErrorInfo reason; ErrorReason_ERROR_REASON_UNSPECIFIED when the error
	// carries no ErrorInfo (a connection failure) or a reason this client does not know.
	Reason v1.ErrorReason
	// ReasonName is the reason as sent, also for reasons this client does not know.
	ReasonName string
	// Domain is the ErrorInfo domain (Domain for the server's own errors).
	Domain string
	// Metadata is the ErrorInfo metadata, e.g. {"name": "users/alice/memories/..."}.
	Metadata map[string]string
	// FieldViolations name the invalid fields (BadRequest).
	FieldViolations []FieldViolation
	// RetryDelay is how long the server asked the caller to wait (RetryInfo); 0 if unset.
	RetryDelay time.Duration
}

func (e *Error) Error() string {
	if e.ReasonName != "" {
		return e.Code.String() + " " + e.ReasonName + ": " + e.Message
	}
	return e.Code.String() + ": " + e.Message
}

// ErrorOf decodes err's status and details with status.FromError. It reports false for
// nil and for errors that carry no gRPC status (for example a context error raised
// before the call was made).
func ErrorOf(err error) (*Error, bool) {
	if err == nil {
		return nil, false
	}
	st, ok := status.FromError(err)
	if !ok {
		return nil, false
	}
	e := &Error{Code: st.Code(), Message: st.Message()}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			e.ReasonName, e.Domain, e.Metadata = d.GetReason(), d.GetDomain(), d.GetMetadata()
			if value, known := v1.ErrorReason_value[d.GetReason()]; known {
				e.Reason = v1.ErrorReason(value)
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.FieldViolations = append(e.FieldViolations, FieldViolation{v.GetField(), v.GetDescription()})
			}
		case *errdetails.RetryInfo:
			e.RetryDelay = d.GetRetryDelay().AsDuration()
		}
	}
	return e, true
}

// ReasonOf is the ErrorInfo reason of err, or ErrorReason_ERROR_REASON_UNSPECIFIED.
func ReasonOf(err error) v1.ErrorReason {
	if e, ok := ErrorOf(err); ok {
		return e.Reason
	}
	return v1.ErrorReason_ERROR_REASON_UNSPECIFIED
}

// IsReason reports whether err carries the ErrorInfo reason r.
func IsReason(err error, r v1.ErrorReason) bool {
	return err != nil && ReasonOf(err) == r
}
