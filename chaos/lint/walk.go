package lint

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// skipDirs are never entered below a walk's root.
var skipDirs = map[string]bool{"vendor": true, "node_modules": true, ".git": true, "testdata": true,
	"third_party": true, "bower_components": true, ".venv": true, "venv": true, "site-packages": true}

// walkTree lists the regular files under root (relative, slash-separated)
// that are not ignored: inside a git work tree git itself says which (tracked
// and untracked, without ignored ones), elsewhere the .gitignore files of the
// tree are read with git's semantics.
func walkTree(root string) ([]string, error) {
	if files, ok := gitFiles(root); ok {
		return files, nil
	}
	var out []string
	ign := ignores{}
	err := filepath.WalkDir(root, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			if fp == root {
				return err
			}
			return nil // unreadable entry: skip it, keep walking
		}
		rel, _ := filepath.Rel(root, fp)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if fp != root {
				if skipDirs[d.Name()] || ign.ignored(rel, true) {
					return filepath.SkipDir
				}
			} else {
				rel = ""
			}
			if g := readGitignore(filepath.Join(fp, ".gitignore")); g != nil {
				ign[rel] = g
			}
			return nil
		}
		if d.Type().IsRegular() && !ign.ignored(rel, false) {
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}

// gitFiles asks git for the files of the work tree under root, if root is in
// one and git is installed.
func gitFiles(root string) ([]string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	out, err := cmd.Output()
	if err != nil {
		return nil, false
	}
	var files []string
	for _, f := range bytes.Split(out, []byte{0}) {
		rel := string(f)
		if rel == "" || hasSkipDir(rel) {
			continue
		}
		fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted from the work tree, a submodule or a symlink
		}
		files = append(files, rel)
	}
	return files, true
}

func hasSkipDir(rel string) bool {
	for _, part := range strings.Split(path.Dir(rel), "/") {
		if skipDirs[part] {
			return true
		}
	}
	return false
}

// nonProduction reports whether a path (relative to the walk's root) is test,
// mock, example or documentation code rather than the application itself.
func nonProduction(rel string) bool {
	base := path.Base(rel)
	lower := strings.ToLower(base)
	switch {
	case strings.HasSuffix(base, "_test.go"),
		strings.Contains(lower, ".test."), strings.Contains(lower, ".spec."),
		strings.HasPrefix(base, "test_") && strings.HasSuffix(base, ".py"),
		strings.HasSuffix(base, "_test.py"), base == "conftest.py",
		jvmTestRE.MatchString(base):
		return true
	}
	inSources := false // below src/, directory names are packages (com/example/…)
	for _, part := range strings.Split(path.Dir(rel), "/") {
		switch strings.ToLower(part) {
		case "src":
			inSources = true
		case "test", "tests", "__tests__", "__mocks__", "mock", "mocks", "testing", "e2e",
			"it", "integration-tests", "integration_tests", "testutil", "testutils", "fixtures":
			return true
		case "example", "examples", "sample", "samples", "demo", "docs", "doc", "benchmark", "benchmarks":
			if !inSources {
				return true
			}
		}
	}
	return false
}

var jvmTestRE = mustRE(`(Test|Tests|IT|Spec|TestCase)\.(java|kt|groovy|scala)$`)
