package launcher_test

import (
	"context"
	"fmt"
	"os"

	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/launcher/plan"
)

// Example launches the built-in default profile running echo hello, with
// this process's stdout, and prints how it ended. It needs what the
// default profile needs: root, or unprivileged user namespaces.
func Example() {
	src, err := launcher.Open("default")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"echo", "hello"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := launcher.Run(context.Background(), p, launcher.Options{Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st)
	// Output:
	// hello
	// exit status 0
}

// Example_detached is the life of a sandbox that outlives the process
// that makes it, as an OCI runtime's container outlives create. Its
// three parts are three processes (in cell-oci: create, the monitor
// that create leaves behind, and delete): while the process that
// started the sandbox runs, it reads init's socket too, so only the
// process that init's socket was passed to may Attach.
func Example_detached() {
	const name = "engine-given-name-longer-than-sixty-three-characters-0123456789abcdef"
	sent, conn, err := create(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Here create passes conn to a process of its own (exec.Cmd's
	// ExtraFiles), keeps sent in its record, and exits.
	_ = conn
	_ = sent
}

// create makes the sandbox and waits until init has run every step;
// init then waits for its first command.
func create(name string) (sent []byte, conn *os.File, err error) {
	src, err := launcher.Open("default")
	if err != nil {
		return nil, nil, err
	}
	p, err := launcher.Prepare(src, nil, launcher.Invocation{Detached: true, EngineName: name})
	if err != nil {
		return nil, nil, err
	}
	s, err := launcher.Start(p, launcher.Stdio{Stderr: os.Stderr}, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := s.Ready(); err != nil {
		return nil, nil, err
	}
	conn, err = s.Detach()
	if err != nil {
		_ = s.Kill()
		_, _ = s.Wait()
		return nil, nil, err
	}
	return s.SentPlan(), conn, nil
}

// start, in the process that init's socket was passed to, sends the
// sandbox its command and waits for it.
func start(sent []byte, conn *os.File) (launcher.ExitStatus, error) {
	pl, err := plan.Decode(sent)
	if err != nil {
		return launcher.ExitStatus{}, err
	}
	a, err := launcher.Attach(pl, conn)
	if err != nil {
		return launcher.ExitStatus{}, err
	}
	proc, err := a.Exec(launcher.ExecRequest{Args: []string{"echo", "hello"}}, [3]*os.File{os.Stdin, os.Stdout, os.Stderr})
	if err != nil {
		return launcher.ExitStatus{}, err
	}
	return proc.Wait()
}

// remove, in any process, once init has ended (the process that created
// it, or a subreaper, reaps it), tears the sandbox down by its plan.
func remove(sent []byte) error {
	pl, err := plan.Decode(sent)
	if err != nil {
		return err
	}
	return launcher.Teardown(pl)
}

// start and remove run in processes of their own (see Example_detached).
var _, _ = start, remove
