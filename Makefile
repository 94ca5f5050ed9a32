# Development tasks. Every target works on a Debian machine with Go; `docker` also
# needs a Docker (or Podman: make docker DOCKER=podman) engine.

GO      ?= go
DOCKER  ?= docker
IMAGE   ?= redis-chaos:dev
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)

.PHONY: build test fuzz bench idle-conns docker lint clean help

## build: static binary (CGO off) at bin/redis-chaos
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/redis-chaos ./cmd/redis-chaos

## test: the README's test command (installs redis-server if missing; vet, go test -race, fuzzing)
test:
	bash scripts/test.sh

## fuzz: every Go fuzz target, FUZZTIME each (default 5s; the test target runs them for 3s)
fuzz:
	bash scripts/fuzz.sh

## bench: redis-chaos (1:1, shared, RESP2 and HELLO 3 clients) vs direct, HAProxy, twemproxy, toxiproxy and a splice forwarder (REPS, N, CLIENTS, PATHS)
bench:
	bash test/bench/bench.sh

## idle-conns: RSS of redis-chaos (and the forwarder) holding 10,000 idle connections (CONNS)
idle-conns:
	bash test/bench/idle_conns.sh

## docker: build the image $(IMAGE) from the Dockerfile
docker:
	$(DOCKER) build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

## lint: go vet and gofmt
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## clean: remove bin/ and benchmark results
clean:
	rm -rf bin dist test/bench/results

## help: this list
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## soak: invariant soak, proxy + engine + real cluster under random faults (DURATION, CONNS, SEED)
soak:
	DURATION=$(or $(DURATION),5m) CONNS=$(or $(CONNS),1000) SEED=$(or $(SEED),0) $(GO) run ./test/soak
