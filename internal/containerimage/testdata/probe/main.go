// Command probe is the smallest server a container runtime can be checked
// with before refbot's image is run on it (TestImageRuns): it answers
// GET /healthz on 0.0.0.0:8080 with "ok".
package main

import (
	"log"
	"net/http"
)

func main() {
	http.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	log.Fatal(http.ListenAndServe("0.0.0.0:8080", nil))
}
