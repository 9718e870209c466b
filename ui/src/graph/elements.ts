// A user's graph as Cytoscape elements: one node per entity, one edge per relation.
import type { ElementDefinition } from "cytoscape";
import { Relation_State, type Entity, type Relation } from "@client/gen/mem0stack/v1/graph_pb.js";

export function graphElements(entities: Entity[], relations: Relation[]): ElementDefinition[] {
  const known = new Set(entities.map((e) => e.name));
  const nodes: ElementDefinition[] = entities.map((e) => ({
    group: "nodes",
    data: { id: e.name, label: e.displayName, type: e.entityType, user: e.isUser ? "yes" : "no" },
  }));
  // A relation may reach an entity beyond the listed page: it still gets a node.
  for (const r of relations) {
    for (const [id, label] of [
      [r.source, r.sourceDisplayName],
      [r.target, r.targetDisplayName],
    ] as const) {
      if (!known.has(id)) {
        known.add(id);
        nodes.push({ group: "nodes", data: { id, label, type: "", user: "no" } });
      }
    }
  }
  const edges: ElementDefinition[] = relations.map((r) => ({
    group: "edges",
    data: {
      id: r.name,
      source: r.source,
      target: r.target,
      label: r.relation,
      valid: r.state === Relation_State.INVALID ? "no" : "yes",
    },
  }));
  return [...nodes, ...edges];
}
