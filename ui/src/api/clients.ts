// The typed clients of the API, over gRPC-web to the page's own origin (Envoy turns gRPC-web
// into gRPC), generated from the proto into clients/ts/src/gen by `make generate`.
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AdminService } from "@client/gen/mem0stack/v1/admin_service_pb.js";
import { GraphService } from "@client/gen/mem0stack/v1/graph_service_pb.js";
import { MemoryService } from "@client/gen/mem0stack/v1/memory_service_pb.js";

export interface Clients {
  memories: Client<typeof MemoryService>;
  graph: Client<typeof GraphService>;
  admin: Client<typeof AdminService>;
  /** The key the clients send, for the few calls made without them (REST import). */
  apiKey: string;
  baseUrl: string;
}

/** Sends `authorization: Bearer <key>` on every call (nothing in development mode). */
export function bearer(apiKey: string): Interceptor {
  return (next) => async (req) => {
    if (apiKey) req.header.set("authorization", `Bearer ${apiKey}`);
    return next(req);
  };
}

export function grpcWebTransport(apiKey: string, baseUrl: string): Transport {
  return createGrpcWebTransport({ baseUrl, interceptors: [bearer(apiKey)] });
}

export function createClients(
  apiKey: string,
  baseUrl: string = window.location.origin,
  transport: Transport = grpcWebTransport(apiKey, baseUrl),
): Clients {
  return {
    memories: createClient(MemoryService, transport),
    graph: createClient(GraphService, transport),
    admin: createClient(AdminService, transport),
    apiKey,
    baseUrl,
  };
}
