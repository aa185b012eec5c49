package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/options"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	entry := filepath.Join(dir, "main.js")
	vus := int64(3)
	in := &Archive{
		Entry: entry,
		Files: map[string][]byte{
			entry:                                 []byte("export default function () {}"),
			filepath.Join(dir, "lib", "x.js"):     []byte("export const x = 1;"),
			filepath.Join(dir, "data", "b.bin"):   {0, 1, 2, 255},
			filepath.Join(dir, "..", "shared.js"): []byte("export const s = 2;"),
		},
		Options: options.Options{VUs: &vus, Hosts: map[string]string{"a.test": "127.0.0.1"},
			TLSVersion: &options.TLSVersion{Min: "tls1.2", Max: "tls1.3"}},
		Env:     map[string]string{"FOO": "bar"},
		Version: "v1.2.3",
	}
	var buf bytes.Buffer
	if err := Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	if !IsArchive(buf.Bytes()) {
		t.Fatal("IsArchive = false for a written archive")
	}
	var again bytes.Buffer
	if err := Write(&again, in); err != nil || !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Errorf("writing the same archive twice gave different bytes (err %v)", err)
	}
	out, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if out.Entry != entry || out.Env["FOO"] != "bar" || out.Version != "v1.2.3" || options.Int(out.Options.VUs, 0) != 3 ||
		out.Options.Hosts["a.test"] != "127.0.0.1" || out.Options.TLSVersion.Max != "tls1.3" {
		t.Errorf("read back %+v", out)
	}
	for p, want := range in.Files {
		got, err := out.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", p, got, err, want)
		}
	}
	_, err = out.ReadFile(filepath.Join(dir, "other.js"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "not in the archive") {
		t.Errorf("missing file: %v", err)
	}
}

func TestReadRejects(t *testing.T) {
	t.Parallel()
	tarOf := func(members map[string]string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for name, body := range members {
			_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
			_, _ = tw.Write([]byte(body))
		}
		_ = tw.Close()
		return buf.Bytes()
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"not a tar":         {[]byte("export default function () {}"), "tar"},
		"k6 archive":        {tarOf(map[string]string{"metadata.json": `{"filename": "/x.js"}`, "data": "{}"}), "k6 archives are not supported"},
		"no metadata":       {tarOf(map[string]string{"files/x.js": "1"}), "not written by `tally archive`"},
		"future format":     {tarOf(map[string]string{"metadata.json": `{"tallyArchive": 9, "entry": "/x.js"}`}), "format 9"},
		"listed but absent": {tarOf(map[string]string{"metadata.json": `{"tallyArchive": 1, "entry": "/x.js", "files": ["/x.js"]}`}), "missing"},
		"bad options": {tarOf(map[string]string{"metadata.json": `{"tallyArchive": 1, "entry": "/x.js", "options": {"vus": "many"}, "files": ["/x.js"]}`,
			"files/x.js": "1"}), "vus"},
	} {
		_, err := Read(bytes.NewReader(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", name, err, tc.want)
		}
	}
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	r := NewRecorder(func(p string) ([]byte, error) {
		if strings.HasSuffix(p, "missing") {
			return nil, fs.ErrNotExist
		}
		return []byte(p), nil
	})
	_, _ = r.ReadFile("/a/b.js")
	_, _ = r.ReadFile("/a/missing")
	files := r.Files()
	if len(files) != 1 || string(files["/a/b.js"]) != "/a/b.js" {
		t.Errorf("recorded %v", files)
	}
}
