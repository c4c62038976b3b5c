package term

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"
)

// TestDropEOFs: the NUL bytes that stand for Ctrl-D in what was typed
// before the terminal went raw are dropped, and only within those bytes.
func TestDropEOFs(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cooked int
		in     string
		want   string
	}{
		{"none cooked", 0, "a\x00b", "a\x00b"},
		{"all cooked", 3, "a\x00b", "ab"},
		{"partly cooked", 2, "\x00\x00\x00", "\x00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &PTY{cooked: tt.cooked}
			b := []byte(tt.in)
			if got := string(b[:p.dropEOFs(b)]); got != tt.want {
				t.Errorf("dropEOFs(%q) with %d cooked = %q, want %q", tt.in, tt.cooked, got, tt.want)
			}
		})
	}
}

// TestPTYCopies: what the command writes to the slave reaches the
// caller's stdout through Start's copy, and the end of stdin reaches the
// command as the terminal's end of file.
func TestPTYCopies(t *testing.T) {
	p, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(inR, outW); err != nil {
		t.Fatal(err)
	}
	if p.Interactive() {
		t.Fatal("a pipe on stdin is taken for a terminal")
	}
	inW.Write([]byte("typed\n"))
	inW.Close()
	got := make([]byte, 64)
	p.Slave.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := p.Slave.Read(got)
	if string(got[:n]) != "typed\n" {
		t.Errorf("the command read %q, want %q", got[:n], "typed\n")
	}
	p.Slave.Write([]byte("hello\n"))
	p.Slave.Close()
	done := make(chan struct{})
	go func() { p.Close(); outW.Close(); close(done) }()
	out, _ := io.ReadAll(outR)
	<-done
	if !bytes.Contains(out, []byte("hello")) {
		t.Errorf("the caller's stdout got %q, want hello", out)
	}
}
