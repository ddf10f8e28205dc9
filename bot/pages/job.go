package pages

import "net/http"

// job serves GET /jobs/{id}: one job's steps and log lines.
func (p *Pages) job(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not built yet", http.StatusNotImplemented)
}
