package output

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CheckFile reports whether a file can be written at path at the end of a
// run: its directory must exist and take new files, and path must not be a
// directory. Checked before a test starts, so that a long run does not end
// without its results.
func CheckFile(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a directory; give a file name", path)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist; create it first", dir)
	case err != nil:
		return fmt.Errorf("directory %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".tally-check-*")
	if err != nil {
		return fmt.Errorf("cannot create files in %s: %w", dir, errors.Unwrap(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// CheckSpecs checks the file of every --out spec that writes one (CheckFile).
func CheckSpecs(specs []string) error {
	for _, s := range specs {
		typ, arg, _ := strings.Cut(s, "=")
		typ = strings.TrimSpace(typ)
		if (typ == "json" || typ == "csv") && arg != "" && arg != "-" {
			if err := CheckFile(arg); err != nil {
				return fmt.Errorf("--out %s: %w", s, err)
			}
		}
	}
	return nil
}
