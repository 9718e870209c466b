module github.com/mem0stack/mem0-stack/deploy/tools/gomodproxy

go 1.26.0

require golang.org/x/mod v0.43.0
