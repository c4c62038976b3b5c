package launcher_test

import (
	"context"
	"fmt"
	"os"

	"github.com/cellsandbox/cell/launcher"
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
