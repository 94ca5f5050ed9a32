// Package lint finds dangerous Redis Cluster client settings in source code,
// configuration and deployment values before they reach a cluster: the
// static twin of the runtime checker.
//
//	res, err := lint.Run(lint.Config{Paths: []string{"."}})
//	var empty *lint.EmptyScanError
//	if errors.As(err, &empty) { ... } // a build declares a client, no file was scanned
//	lint.WriteText(os.Stdout, res)    // or WriteJSON, WriteSARIF
//
//	  tree ──walk (git ls-files or .gitignore)──▶ build files ──▶ modules: clients,
//	   │                                                         versions, Spring Boot,
//	   │                                                         Actuator, in-repo deps
//	   └──▶ sources (comments blanked) ──▶ facts: constructions, options,  │
//	        config files ──▶ settings       commands sent, beans         ──┴──▶ rules ──▶ findings
//
// Rules reason about defaults, not only written-out values: a client option the
// code leaves unset is judged by the client version the build resolves (a
// range is kept as a range). The analysis is regex and structure based, not a
// compiler; docs/lint.md lists what it knows and what it misses.
package lint
