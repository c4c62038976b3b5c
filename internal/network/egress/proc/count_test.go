package proc

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCountDenied(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	log := `{"via":"connect","name":"a.example","port":443,"allowed":true,"rule":"p.yaml:3:5"}
{"via":"dns","name":"b.example","allowed":false,"rule":"p.yaml:1:1"}
{"via":"socks5","name":"c.example","port":22,"allowed":false,"rule":"p.yaml:1:1"}
{"via":"connect","name":"d.exa`
	if err := os.WriteFile(p, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := CountDenied(p)
	if err != nil || n != 2 {
		t.Errorf("CountDenied = %d, %v; want 2 (a cut line is not counted)", n, err)
	}
}
