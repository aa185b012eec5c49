package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"

	"github.com/tallyhq/tally/internal/exitcode"
)

// profiler writes the --cpuprofile and --memprofile files of a run. Each is
// written to a temporary file beside its destination and renamed into place
// when complete, so a failed or interrupted write never leaves a truncated
// profile under the requested name.
type profiler struct {
	cpuPath, memPath string
	cpuTmp           *os.File
}

// startProfiling checks that both destinations can be written and starts
// the CPU profile. The caller must call stop exactly once.
func startProfiling(cpuPath, memPath string) (*profiler, error) {
	p := &profiler{cpuPath: cpuPath, memPath: memPath}
	if memPath != "" {
		// Fail before the run rather than after it when the file cannot be made.
		f, err := createTemp(memPath)
		if err != nil {
			return nil, profileErr("--memprofile", memPath, err)
		}
		f.Close()
		os.Remove(f.Name())
	}
	if cpuPath == "" {
		return p, nil
	}
	f, err := createTemp(cpuPath)
	if err != nil {
		return nil, profileErr("--cpuprofile", cpuPath, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, profileErr("--cpuprofile", cpuPath, err)
	}
	p.cpuTmp = f
	return p, nil
}

// stop ends the CPU profile, writes the heap profile (after a garbage
// collection, so it shows the live heap at the end of the run) and moves
// both into place.
func (p *profiler) stop() error {
	var errs []error
	if p.cpuTmp != nil {
		pprof.StopCPUProfile()
		errs = append(errs, commit(p.cpuTmp, p.cpuPath, "--cpuprofile", nil))
	}
	if p.memPath != "" {
		f, err := createTemp(p.memPath)
		if err != nil {
			errs = append(errs, profileErr("--memprofile", p.memPath, err))
		} else {
			runtime.GC()
			errs = append(errs, commit(f, p.memPath, "--memprofile", pprof.WriteHeapProfile))
		}
	}
	return errors.Join(errs...)
}

// commit writes (when write is set), syncs and closes the temporary file f,
// then renames it to dst; on any failure the temporary file is removed.
func commit(f *os.File, dst, flag string, write func(w io.Writer) error) error {
	var err error
	if write != nil {
		err = write(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
		return profileErr(flag, dst, err)
	}
	return nil
}

func createTemp(dst string) (*os.File, error) {
	return os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.tmp")
}

func profileErr(flag, path string, err error) error {
	return exitcode.With(exitcode.Other, fmt.Errorf("%s %s: %w (check that the directory exists and is writable)", flag, path, err))
}
