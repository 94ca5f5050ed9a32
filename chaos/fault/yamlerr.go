package fault

import (
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	yamlCannot   = regexp.MustCompile("cannot unmarshal (!!\\w+)(?: `([^`]*)`)? into (\\S+)")
	yamlNotFound = regexp.MustCompile(`field (\S+) not found in type \S+`)
	yamlLinePfx  = regexp.MustCompile(`^line [0-9]+: `)
)

// YAMLReason words a YAML decoding error of a config file or a plan for a
// user: what was wanted and what was found, without Go type names or the
// decoder's own line (the caller knows the line in the file). It reports
// the unknown field's name, if the error is about one.
func YAMLReason(err error) (reason, unknownField string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg, _, _ = strings.Cut(msg, "\n") // the first problem
	msg = yamlLinePfx.ReplaceAllString(msg, "")
	if m := yamlNotFound.FindStringSubmatch(msg); m != nil {
		return "unknown field", m[1]
	}
	m := yamlCannot.FindStringSubmatch(msg)
	if m == nil {
		return msg, ""
	}
	got := map[string]string{"!!seq": "a list", "!!map": "a mapping", "!!bool": "true/false", "!!null": "nothing"}[m[1]]
	if got == "" {
		got = strconv.Quote(m[2])
	}
	want := map[string]string{
		"fault.Duration": `a duration such as "1.5s"`, "string": "a string", "int": "a whole number",
		"float64": "a number", "[]string": "a list of names", "fault.Match": "a mapping (commands, keys, …)",
		"*fault.Spec": "a fault (action, target, …)", "bool": "true or false",
	}[m[3]]
	if want == "" {
		want = m[3]
	}
	return "want " + want + ", got " + got, ""
}

// BadField is a field of a YAML mapping whose value could not be read.
type BadField struct {
	Key    string
	Value  *yaml.Node
	Reason string // YAMLReason's wording
}

// DecodeByField decodes mapping n into v one field at a time, so that a
// value that cannot be read does not hide the others, and returns the fields
// that could not be read. Keys known(key) rejects are skipped (nil: none).
func DecodeByField(n *yaml.Node, v any, known func(string) bool) []BadField {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var bad []BadField
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if known != nil && (k.Kind != yaml.ScalarNode || !known(k.Value)) {
			continue
		}
		one := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{k, val}}
		if err := one.Decode(v); err != nil {
			reason, _ := YAMLReason(err)
			bad = append(bad, BadField{Key: k.Value, Value: val, Reason: reason})
		}
	}
	return bad
}
