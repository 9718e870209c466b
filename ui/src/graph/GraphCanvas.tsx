// The interactive graph (Cytoscape): drag, zoom, and click a relation or an entity to see the
// memories behind it. The relation table beside it offers the same by keyboard.
import cytoscape, { type Core } from "cytoscape";
import { useEffect, useRef } from "react";
import type { Entity, Relation } from "@client/gen/mem0stack/v1/graph_pb.js";
import { graphElements } from "./elements";

interface Props {
  entities: Entity[];
  relations: Relation[];
  selected: string | undefined;
  onSelect: (name: string) => void;
}

const STYLE: cytoscape.StylesheetJson = [
  {
    selector: "node",
    style: {
      label: "data(label)",
      "background-color": "#1f4e79",
      color: "#1b1f24",
      "font-size": 12,
      "text-valign": "bottom",
      "text-margin-y": 4,
      width: 26,
      height: 26,
    },
  },
  { selector: 'node[user = "yes"]', style: { "background-color": "#d9822b", width: 34, height: 34 } },
  {
    selector: "edge",
    style: {
      label: "data(label)",
      "curve-style": "bezier",
      "target-arrow-shape": "triangle",
      "line-color": "#8a94a0",
      "target-arrow-color": "#8a94a0",
      width: 2,
      "font-size": 11,
      "text-background-color": "#ffffff",
      "text-background-opacity": 1,
      "text-background-padding": "2px",
    },
  },
  { selector: 'edge[valid = "no"]', style: { "line-style": "dashed", opacity: 0.5 } },
  { selector: ":selected", style: { "line-color": "#f5a623", "target-arrow-color": "#f5a623", "background-color": "#f5a623", width: 4 } },
];

export function GraphCanvas({ entities, relations, selected, onSelect }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const cy = useRef<Core | null>(null);
  const select = useRef(onSelect);
  select.current = onSelect;

  useEffect(() => {
    if (!container.current) return;
    const instance = cytoscape({
      container: container.current,
      elements: graphElements(entities, relations),
      style: STYLE,
      layout: { name: "cose", animate: false, padding: 30 },
      wheelSensitivity: 0.3,
    });
    instance.on("tap", "edge, node", (event) => select.current(event.target.id() as string));
    cy.current = instance;
    // Reachable from the browser's console (and the end-to-end test, which clicks an edge
    // where Cytoscape drew it).
    (window as unknown as { mem0stackGraph?: Core }).mem0stackGraph = instance;
    return () => {
      instance.destroy();
      cy.current = null;
    };
  }, [entities, relations]);

  useEffect(() => {
    const instance = cy.current;
    if (!instance) return;
    instance.elements().unselect();
    if (selected) instance.getElementById(selected).select();
  }, [selected]);

  return (
    <div
      ref={container}
      className="graph-canvas"
      role="img"
      aria-label={`Graph of ${entities.length} entities and ${relations.length} relations; the table lists them`}
    />
  );
}
