// Package archive writes and reads tally archives: one tar file holding a
// test script, every local file it imports or open()s, the options it was
// resolved with and its -e variables, so a run can be shipped as one file to
// every instance of a distributed test and run without the original files.
//
// Layout: metadata.json (format version, entry script path, options, env,
// tally version) and files/<absolute path of each file, without the
// leading slash>. Paths keep their original absolute form so that relative
// imports and open() calls resolve exactly as they did.
package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tallyhq/tally/internal/options"
)

// Format is the metadata format version this package writes and reads.
const Format = 1

const (
	metadataName = "metadata.json"
	filesDir     = "files/"
)

// Archive is the content of an archive.
type Archive struct {
	// Entry is the absolute path the entry script had.
	Entry string
	// Files maps absolute paths to contents; Entry is among them.
	Files map[string][]byte
	// Options are the resolved options; Env the -e variables.
	Options options.Options
	Env     map[string]string
	// Version is the tally version that wrote the archive.
	Version string
}

type metadata struct {
	Format  int               `json:"tallyArchive"`
	Entry   string            `json:"entry"`
	Options json.RawMessage   `json:"options"`
	Env     map[string]string `json:"env"`
	Version string            `json:"version,omitempty"`
	Files   []string          `json:"files"`
}

// Write writes a as a tar stream to w. Files are written in path order with
// a fixed modification time, so the same input gives the same bytes.
func Write(w io.Writer, a *Archive) error {
	if _, ok := a.Files[a.Entry]; !ok {
		return fmt.Errorf("archive: the entry script %s is not among the files", a.Entry)
	}
	opts, err := json.Marshal(a.Options)
	if err != nil {
		return fmt.Errorf("archive: options: %w", err)
	}
	names := make([]string, 0, len(a.Files))
	for p := range a.Files {
		names = append(names, p)
	}
	sort.Strings(names)
	env := a.Env
	if env == nil {
		env = map[string]string{}
	}
	meta, err := json.MarshalIndent(metadata{Format: Format, Entry: filepath.ToSlash(a.Entry), Options: opts, Env: env,
		Version: a.Version, Files: slashed(names)}, "", "  ")
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	mtime := time.Unix(0, 0).UTC()
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime,
			Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := add(metadataName, meta); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	for _, p := range names {
		if err := add(memberName(p), a.Files[p]); err != nil {
			return fmt.Errorf("archive: %s: %w", p, err)
		}
	}
	return tw.Close()
}

func slashed(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.ToSlash(p)
	}
	return out
}

// memberName is the tar member of an absolute file path.
func memberName(p string) string {
	p = filepath.ToSlash(p)
	if v := filepath.VolumeName(p); v != "" { // C:/x -> files/C/x
		p = strings.TrimSuffix(v, ":") + p[len(v):]
	}
	return filesDir + strings.TrimPrefix(p, "/")
}

// Read reads an archive written by Write.
func Read(r io.Reader) (*Archive, error) {
	tr := tar.NewReader(r)
	members := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a readable tar archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("archive member %s: %w", h.Name, err)
		}
		members[path.Clean(h.Name)] = b
	}
	raw, ok := members[metadataName]
	if !ok {
		return nil, fmt.Errorf("the tar file has no %s: it was not written by `tally archive` (k6 archives are not supported)", metadataName)
	}
	var m metadata
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("archive %s: %w", metadataName, err)
	}
	if m.Format == 0 {
		return nil, fmt.Errorf("this tar file was not written by `tally archive` (k6 archives are not supported): make one with `tally archive SCRIPT`")
	}
	if m.Format != Format {
		return nil, fmt.Errorf("archive format %d is not supported by this tally (it reads format %d); recreate it with `tally archive`", m.Format, Format)
	}
	opts, warnings, err := options.Parse(m.Options)
	if err != nil {
		return nil, fmt.Errorf("archive options: %w", err)
	}
	_ = warnings // reported when the archive was made
	a := &Archive{Entry: filepath.FromSlash(m.Entry), Files: map[string][]byte{}, Options: opts, Env: m.Env, Version: m.Version}
	for _, p := range m.Files {
		b, ok := members[path.Clean(memberName(p))]
		if !ok {
			return nil, fmt.Errorf("archive: %s is listed but missing", p)
		}
		a.Files[filepath.FromSlash(p)] = b
	}
	if _, ok := a.Files[a.Entry]; !ok {
		return nil, fmt.Errorf("archive: the entry script %s is missing", m.Entry)
	}
	return a, nil
}

// ReadFile returns a's content of path, for imports and open() in a run
// from the archive; a path the archive lacks is an fs.ErrNotExist error
// that says so.
func (a *Archive) ReadFile(p string) ([]byte, error) {
	if b, ok := a.Files[filepath.Clean(p)]; ok {
		return b, nil
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: errNotInArchive}
}

var errNotInArchive = fmt.Errorf("not in the archive (only files read when it was made are there): %w", fs.ErrNotExist)

// IsArchive reports whether b (the start of a file, at least 262 bytes for
// a certain answer) is a tar archive.
func IsArchive(b []byte) bool {
	return len(b) >= 262 && bytes.HasPrefix(b[257:], []byte("ustar"))
}

// Recorder wraps a ReadFile function and keeps a copy of every file read
// successfully, for Write.
type Recorder struct {
	read  func(string) ([]byte, error)
	mu    sync.Mutex
	files map[string][]byte
}

// NewRecorder returns a Recorder over read.
func NewRecorder(read func(string) ([]byte, error)) *Recorder {
	return &Recorder{read: read, files: map[string][]byte{}}
}

// ReadFile reads p and records it.
func (r *Recorder) ReadFile(p string) ([]byte, error) {
	b, err := r.read(p)
	if err == nil {
		abs, aerr := filepath.Abs(p)
		if aerr != nil {
			abs = p
		}
		r.mu.Lock()
		r.files[abs] = b
		r.mu.Unlock()
	}
	return b, err
}

// Files returns the files read so far, by absolute path.
func (r *Recorder) Files() map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]byte, len(r.files))
	for k, v := range r.files {
		out[k] = v
	}
	return out
}
