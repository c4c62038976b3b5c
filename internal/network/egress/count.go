package egress

import (
	"bufio"
	"encoding/json"
	"os"
)

// CountDenied reads a proxy's decision log (one Decision a line) and
// returns how many connections and name questions it denied: what cell ps
// shows of a sandbox while it runs and after. A line that is not a
// decision (a log cut short at its size limit) is not counted.
func CountDenied(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var d Decision
		if json.Unmarshal(sc.Bytes(), &d) == nil && !d.Allowed && d.Rule != "" {
			n++
		}
	}
	return n, sc.Err()
}
