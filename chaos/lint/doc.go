// Package lint finds dangerous Redis Cluster client options in source code before
// they reach a cluster: the static twin of the runtime checker.
//
//	res, err := lint.Run(lint.Config{Paths: []string{"."}})
//	if err != nil { ... }
//	lint.WriteText(os.Stdout, res)   // or WriteJSON, WriteSARIF
//
//	  tree ──walk──▶ build files ──detect──▶ projects (client, version)
//	       │                                        │
//	       └──────▶ source/config files ──rules─────┴──▶ findings (file:line)
//
// The walk honours the .gitignore files of the root and of every directory
// under it (simple glob lines, relative to their directory; no negations), skips vendor/,
// node_modules/, .git/ and testdata/ unless given explicitly, and files with a
// "Code generated … DO NOT EDIT." header. Rules are line- and regex-based: no
// parsers, but each rule first checks that the file uses the client it is about.
package lint
