package syserr

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestError(t *testing.T) {
	e := &Error{Call: "prlimit", Object: "RLIMIT_NOFILE", Err: unix.EPERM, Why: "needs CAP_SYS_RESOURCE"}
	if got, want := e.Error(), "prlimit RLIMIT_NOFILE: EPERM (operation not permitted): needs CAP_SYS_RESOURCE"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, unix.EPERM) {
		t.Error("the errno does not unwrap")
	}
	if got := Text(errors.New("plain")); got != "plain" {
		t.Errorf("Text of a non-errno = %q", got)
	}
}
