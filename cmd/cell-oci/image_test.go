package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/cellsandbox/cell/internal/testenv"
)

// busyboxApplets are the commands the engine tests' images link to
// busybox.
var busyboxApplets = []string{"sh", "echo", "cat", "sleep", "id", "ls", "hostname", "ip", "tty", "stty", "true", "grep"}

// busyboxRootfs returns a tar of a root holding the host's static busybox
// (as bin/busybox, its applets linked to it) and the directories a
// runtime mounts on: the one layer of the engines' images, which are built
// here, not pulled.
func busyboxRootfs(t *testing.T) []byte {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		testenv.Skip(t, "no busybox (apt-get install busybox-static)")
	}
	if out, err := exec.Command("ldd", bb).CombinedOutput(); err == nil {
		testenv.Skip(t, "busybox is not static: "+string(out))
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	write := func(h *tar.Header, body []byte) {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin/", "dev/", "proc/", "sys/", "etc/", "run/"} {
		write(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir}, nil)
	}
	write(&tar.Header{Name: "tmp/", Mode: 0o1777, Typeflag: tar.TypeDir}, nil)
	write(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}, data)
	for _, a := range busyboxApplets {
		write(&tar.Header{Name: "bin/" + a, Linkname: "busybox", Typeflag: tar.TypeSymlink}, nil)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// ociArchive returns an OCI image layout as a tar (what `ctr images
// import` reads) of one image named name (its io.containerd.image.name
// annotation), for linux/amd64, whose one uncompressed layer is layer and
// whose command is sh.
func ociArchive(t *testing.T, name string, layer []byte) []byte {
	t.Helper()
	return ociArchiveCmd(t, name, layer, []string{"sh"})
}

// ociArchiveCmd is ociArchive of an image whose command is cmd.
func ociArchiveCmd(t *testing.T, name string, layer []byte, cmd []string) []byte {
	t.Helper()
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cfg := mustJSON(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/bin"}, "Cmd": cmd},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest(layer)}},
	})
	manifest := mustJSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(cfg), "size": len(cfg)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layer), "size": len(layer)}},
	})
	index := mustJSON(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(manifest), "size": len(manifest),
			"platform":    map[string]any{"architecture": "amd64", "os": "linux"},
			"annotations": map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"},
		}},
	})
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	add := func(path string, body []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: path, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	add("index.json", index)
	for _, blob := range [][]byte{layer, cfg, manifest} {
		add("blobs/sha256/"+digest(blob)[len("sha256:"):], blob)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
