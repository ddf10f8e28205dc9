package pages

import "net/http"

// index serves GET /: the open pull requests with their data state.
func (p *Pages) index(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not built yet", http.StatusNotImplemented)
}
