package checker

import "net/http"

// Handler serves the checker's part of the control API on its own, for the
// tests of this package (redis-chaos serves it from the API's route table).
func (k *Checker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/findings", k.ServeFindings)
	mux.HandleFunc("DELETE /v1/findings", k.DeleteFindings)
	mux.HandleFunc("GET /v1/clients", k.ServeClients)
	mux.HandleFunc("GET /v1/rules", k.ServeRules)
	return mux
}
