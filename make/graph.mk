# Graph memory (issue #8): the development Neo4j. deploy/neo4j/ holds a small Java launcher
# of Neo4j 5.26 Community embedded with its Bolt connector, built by Maven (versions pinned
# in deploy/neo4j/pom.xml, fetched from Maven Central at build time into ~/.m2 and
# deploy/neo4j/target/). The graph tests start it themselves (tests/support/neo4j.py) and
# build it when missing; building it ahead keeps that minute out of the test run.

NEO4J_PORT ?= 7687
NEO4J_DATA ?= data/neo4j

.PHONY: neo4j-launcher neo4j bench-graph

neo4j-launcher: ## Build the embedded Neo4j launcher (Maven) into deploy/neo4j/target
	deploy/neo4j/run.sh --build-only

neo4j: neo4j-launcher ## Run Neo4j for development on bolt://127.0.0.1:7687 (data in ./data/neo4j)
	@echo "graph memory: MEM0STACK_NEO4J_URI=bolt://127.0.0.1:$(NEO4J_PORT) make run"
	deploy/neo4j/run.sh --data $(NEO4J_DATA) --port $(NEO4J_PORT)

bench-graph: setup neo4j-launcher ## Benchmark graph memory (add latency on/off, queries over 100,000 relations)
	$(BIN)/python -m bench.bench_graph
