package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// yamlLine matches a YAML syntax error's text.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// checkYAMLSyntax reports a YAML syntax error of the config file as a
// ConfigError naming the line where the error is, or nil.
func checkYAMLSyntax(file string) error {
	if !strictConfig(file) {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil // reported by whoever reads the file
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return &ConfigError{File: file, Problems: fault.Errors{syntaxProblem(b, err)}}
	}
	return nil
}

// syntaxProblem describes a YAML syntax error of b at the line where it is.
// The parser names the line where the enclosing block began (a list's first
// item for a key indented one space too far three lines below, say): the
// error's own line is the first line whose prefix of the file fails to parse
// with the same message.
func syntaxProblem(b []byte, err error) *fault.FieldError {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return &fault.FieldError{Field: "yaml", Reason: err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	lines := strings.SplitAfter(string(b), "\n")
	for k := 1; k <= len(lines); k++ {
		var n yaml.Node
		e := yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n)
		if e == nil {
			continue
		}
		if em := yamlLine.FindStringSubmatch(e.Error()); em != nil && em[2] == msg {
			line = k
			break
		}
	}
	text := ""
	if line >= 1 && line <= len(lines) {
		text = fmt.Sprintf(" %q", strings.TrimRight(lines[line-1], "\r\n"))
	}
	if strings.Contains(msg, "did not find expected key") || strings.Contains(msg, "did not find expected '-' indicator") ||
		strings.Contains(msg, "mapping values are not allowed") {
		msg += " (is it indented as the lines above it?)"
	}
	return &fault.FieldError{Field: "yaml", Reason: fmt.Sprintf("line %d%s: %s", line, text, msg)}
}
