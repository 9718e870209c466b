// Command gomodproxy publishes a Go module from a directory into a module proxy laid out on
// disk, the layout GOPROXY=file://DIR reads:
//
//	DIR/<escaped module path>/@v/list
//	DIR/<escaped module path>/@v/<version>.info
//	DIR/<escaped module path>/@v/<version>.mod
//	DIR/<escaped module path>/@v/<version>.zip
//
// The zip is made by golang.org/x/mod/zip, as the go command makes and checks module zips
// (nested modules, vendor directories and files a module may not hold are left out), so
// what `go get` downloads from there is what a tagged release would be.
//
//	gomodproxy -dir clients/go -version v0.1.0 -time 2026-12-03T10:00:00Z -out dist/goproxy
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func main() {
	dir := flag.String("dir", ".", "the module's directory (holding its go.mod)")
	version := flag.String("version", "", "the version to publish, e.g. v0.1.0")
	stamp := flag.String("time", "", "the version's time, RFC 3339 (default: now)")
	out := flag.String("out", "goproxy", "the proxy directory")
	flag.Parse()
	if err := publish(*dir, *version, *stamp, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gomodproxy:", err)
		os.Exit(1)
	}
}

func publish(dir, version, stamp, out string) error {
	goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	path := modfile.ModulePath(goMod)
	if path == "" {
		return fmt.Errorf("%s/go.mod names no module", dir)
	}
	mod := module.Version{Path: path, Version: version}
	if err := module.Check(path, version); err != nil {
		return err
	}
	when := time.Now().UTC()
	if stamp != "" {
		if when, err = time.Parse(time.RFC3339, stamp); err != nil {
			return err
		}
	}
	escaped, err := module.EscapePath(path)
	if err != nil {
		return err
	}
	versions := filepath.Join(out, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(versions, 0o755); err != nil {
		return err
	}
	base := filepath.Join(versions, version)
	zipFile, err := os.Create(base + ".zip")
	if err != nil {
		return err
	}
	if err := modzip.CreateFromDir(zipFile, mod, dir); err != nil {
		zipFile.Close()
		return err
	}
	if err := zipFile.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(base+".mod", goMod, 0o644); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, when.UTC()})
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".info", info, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(versions, "list"), []byte(version+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s@%s in %s\n", path, version, versions)
	return nil
}
