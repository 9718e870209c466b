package mem0stack_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/mem0stack/mem0-stack/clients/go/mem0stack"
	v1 "github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1"
)

// Every RPC of every service in package mem0stack.v1 is a method of *mem0stack.Client. The
// services are read from the generated file descriptors (every file of the package that the
// v1 package registers), so an RPC or a service added to the proto fails this test until
// the client has it. The rule: the method has the RPC's name and the generated client's
// shape, (ctx, *Request, ...grpc.CallOption) or, for a client-streaming RPC,
// (ctx, ...grpc.CallOption); Client gets them by embedding the generated service clients.

var (
	contextType    = reflect.TypeFor[context.Context]()
	callOptionType = reflect.TypeFor[[]grpc.CallOption]()
	errorType      = reflect.TypeFor[error]()
)

func services(t *testing.T) []protoreflect.ServiceDescriptor {
	t.Helper()
	var found []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("mem0stack.v1", func(file protoreflect.FileDescriptor) bool {
		for i := range file.Services().Len() {
			found = append(found, file.Services().Get(i))
		}
		return true
	})
	return found
}

// messageName is the full proto name of t when t is a pointer to a generated message.
func messageName(t reflect.Type) protoreflect.FullName {
	if t.Kind() != reflect.Pointer || !t.Implements(reflect.TypeFor[proto.Message]()) {
		return ""
	}
	return reflect.Zero(t).Interface().(proto.Message).ProtoReflect().Descriptor().FullName()
}

// problems lists what client lacks for each RPC.
func problems(t *testing.T, client reflect.Type) []string {
	var found []string
	for _, service := range services(t) {
		for i := range service.Methods().Len() {
			rpc := service.Methods().Get(i)
			where := client.String() + "." + string(rpc.Name()) + " for " + string(rpc.FullName())
			method, ok := client.MethodByName(string(rpc.Name()))
			if !ok {
				found = append(found, where+": missing")
				continue
			}
			in := []reflect.Type{contextType}
			if !rpc.IsStreamingClient() {
				in = append(in, nil) // the request, checked by name below
			}
			in = append(in, callOptionType)
			fn := method.Type // the receiver is In(0)
			shape := fn.IsVariadic() && fn.NumIn() == len(in)+1 && fn.NumOut() == 2 && fn.Out(1) == errorType
			for j := 0; shape && j < len(in); j++ {
				if in[j] != nil {
					shape = fn.In(j+1) == in[j]
				} else {
					shape = messageName(fn.In(j+1)) == rpc.Input().FullName()
				}
			}
			if shape && !rpc.IsStreamingClient() && !rpc.IsStreamingServer() {
				shape = messageName(fn.Out(0)) == rpc.Output().FullName()
			}
			if !shape {
				found = append(found, where+": "+fn.String()+" is not the generated client's shape")
			}
		}
	}
	return found
}

func TestTheProtoHasTheServicesTheClientKnows(t *testing.T) {
	// The discovery itself must work, or the check below would pass on nothing.
	var names []string
	for _, s := range services(t) {
		names = append(names, string(s.FullName()))
		for i := range s.Methods().Len() {
			names = append(names, string(s.Methods().Get(i).Name()))
		}
	}
	for _, want := range []string{"mem0stack.v1.MemoryService", "mem0stack.v1.GraphService", "mem0stack.v1.AdminService", "GetOperation", "ListEntities", "ImportMemories", "CreateApiKey"} {
		if !slices.Contains(names, want) {
			t.Fatalf("%s not found among %v", want, names)
		}
	}
}

func TestEveryRPCHasAMethod(t *testing.T) {
	if found := problems(t, reflect.TypeFor[*mem0stack.Client]()); len(found) > 0 {
		t.Fatalf("the client does not cover every RPC:\n%v", found)
	}
}

func TestAMissingMethodIsFound(t *testing.T) {
	type memoryOnly struct{ v1.MemoryServiceClient }
	found := problems(t, reflect.TypeFor[*memoryOnly]())
	want := []string{
		"*mem0stack_test.memoryOnly.ListEntities for mem0stack.v1.GraphService.ListEntities: missing",
		"*mem0stack_test.memoryOnly.GetEntity for mem0stack.v1.GraphService.GetEntity: missing",
		"*mem0stack_test.memoryOnly.DeleteEntity for mem0stack.v1.GraphService.DeleteEntity: missing",
		"*mem0stack_test.memoryOnly.ListRelations for mem0stack.v1.GraphService.ListRelations: missing",
		"*mem0stack_test.memoryOnly.GetGraphStatus for mem0stack.v1.GraphService.GetGraphStatus: missing",
	}
	for _, method := range []string{"CreateWebhook", "GetWebhook", "ListWebhooks", "UpdateWebhook", "DeleteWebhook", "ListWebhookDeliveries"} {
		want = append(want, "*mem0stack_test.memoryOnly."+method+" for mem0stack.v1.WebhookService."+method+": missing")
	}
	for _, method := range []string{"CreateApiKey", "GetApiKey", "ListApiKeys", "RevokeApiKey", "ListUsers", "GetUserUsage", "EraseUser", "GetServerStatus"} {
		want = append(want, "*mem0stack_test.memoryOnly."+method+" for mem0stack.v1.AdminService."+method+": missing")
	}
	slices.Sort(found)
	slices.Sort(want)
	if !slices.Equal(found, want) {
		t.Fatalf("found %v, want %v", found, want)
	}
}
