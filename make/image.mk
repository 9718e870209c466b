# The container image and the single-host deployment (issue #17): deploy/Containerfile,
# deploy/compose.yaml, docs/deploy.md.
#
# `make image` needs no container registry: the base is Debian 12 made by mmdebstrap from
# this machine's apt mirror (cached under build/image/), the Python wheels are built on this
# machine from requirements.lock, and podman builds with no network. The Debian packages it
# needs (mmdebstrap, podman, runc) are installed with apt-get when missing, which needs root.
#
# The image's tests (`make test-image`) are not part of `make test`: building the image on a
# fresh machine takes about two and a half minutes and a gigabyte of disk, as root.
# `lint-compose` is: it validates deploy/compose.yaml offline.

IMAGE_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
MEM0STACK_IMAGE ?= localhost/mem0stack:$(IMAGE_VERSION)
IMAGE_CONTAINERS_CONF := $(CURDIR)/deploy/image/containers.conf

TEST_TARGETS += lint-compose

.PHONY: image image-tools test-image lint-compose

image-tools: ## Install mmdebstrap, podman and runc from Debian if missing (as root)
	deploy/image/install-tools.sh mmdebstrap podman runc

image: setup ui ## Build the image localhost/mem0stack:<version> without a registry (installs mmdebstrap/podman/runc as root if missing)
	CONTAINERS_CONF=$(IMAGE_CONTAINERS_CONF) deploy/image/build.sh $(MEM0STACK_IMAGE)

# Where podman cannot be installed or run (not root), the tests skip and say why.
test-image: setup gateway-tools ## Build the image, run it (embedded and external PostgreSQL, two replicas) and test it with grpcurl and REST
	@if deploy/image/install-tools.sh mmdebstrap podman runc && \
	  CONTAINERS_CONF=$(IMAGE_CONTAINERS_CONF) podman info >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory image; \
	fi
	CONTAINERS_CONF=$(IMAGE_CONTAINERS_CONF) MEM0STACK_TEST_IMAGE=$(MEM0STACK_IMAGE) \
	  $(BIN)/python -m pytest tests/deploy

lint-compose: setup ## Validate deploy/compose.yaml (docker-compose config -q; installs Debian's docker-compose as root if missing)
	deploy/image/install-tools.sh docker-compose
	cd deploy && docker-compose -f compose.yaml config -q
	@grep -q 'localhost/mem0stack:$(IMAGE_VERSION)}' deploy/compose.yaml || \
	  { echo "deploy/compose.yaml does not name the image of version $(IMAGE_VERSION)" >&2; exit 1; }
	$(BIN)/ruff check deploy/image/healthcheck.py
	$(BIN)/ruff format --check deploy/image/healthcheck.py
	@echo "deploy/compose.yaml is valid"
