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

IMAGE_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
MEM0STACK_IMAGE ?= localhost/mem0stack:$(IMAGE_VERSION)
IMAGE_CONTAINERS_CONF := $(CURDIR)/deploy/image/containers.conf

.PHONY: image image-tools

image-tools: ## Install mmdebstrap, podman and runc from Debian if missing (as root)
	deploy/image/install-tools.sh mmdebstrap podman runc

image: setup ## Build the image localhost/mem0stack:<version> without a registry (installs mmdebstrap/podman/runc as root if missing)
	CONTAINERS_CONF=$(IMAGE_CONTAINERS_CONF) deploy/image/build.sh $(MEM0STACK_IMAGE)

