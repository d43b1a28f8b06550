// Command bare is the ceiling of the REST benchmark (scripts/bench/rest.sh):
// a trivial Go net/http handler answering 200 with a small JSON body.
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "address")
	flag.Parse()
	body := []byte(`{"state": "running", "role": "primary"}` + "\n")
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})))
}
