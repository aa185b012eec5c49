package js

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// isTypeScript reports whether path names a TypeScript file.
func isTypeScript(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ts", ".mts", ".cts":
		return true
	}
	return false
}

// TypeScriptError is a TypeScript file esbuild could not compile.
type TypeScriptError struct {
	Path     string
	Messages []api.Message
}

func (e *TypeScriptError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "TypeScript error in %s:", e.Path)
	for _, m := range e.Messages {
		b.WriteString("\n  ")
		if m.Location != nil {
			fmt.Fprintf(&b, "%s:%d:%d: ", e.Path, m.Location.Line, m.Location.Column+1)
		}
		b.WriteString(m.Text)
		if m.Location != nil && m.Location.LineText != "" {
			fmt.Fprintf(&b, "\n    %s", m.Location.LineText)
		}
	}
	return b.String()
}

// compileTypeScript strips the types of a TypeScript file (esbuild's
// transform: no type checking, as k6 does) and returns ES2020 JavaScript
// with an inline source map, so error positions and stack traces point at
// the .ts lines.
func compileTypeScript(path string, src []byte) ([]byte, error) {
	res := api.Transform(string(src), api.TransformOptions{
		Loader:         api.LoaderTS,
		Format:         api.FormatDefault,
		Target:         api.ES2020,
		Sourcemap:      api.SourceMapInline,
		SourcesContent: api.SourcesContentExclude,
		Sourcefile:     fileURL(path),
		LogLevel:       api.LogLevelSilent,
	})
	if len(res.Errors) > 0 {
		return nil, &TypeScriptError{Path: path, Messages: res.Errors}
	}
	return res.Code, nil
}

// scriptSource returns the JavaScript to run for a file: TypeScript files
// compiled, others as they are.
func scriptSource(path string, src []byte) ([]byte, error) {
	if isTypeScript(path) {
		return compileTypeScript(path, src)
	}
	return src, nil
}

// SyntaxHintError is a syntax error in a .js file that is valid TypeScript:
// the hint says to rename the file.
type SyntaxHintError struct {
	Err  error
	Path string
}

func (e *SyntaxHintError) Error() string {
	return fmt.Sprintf("%v (this looks like TypeScript: tally compiles files ending in .ts, so rename %s to %s)",
		e.Err, filepath.Base(e.Path), strings.TrimSuffix(filepath.Base(e.Path), filepath.Ext(e.Path))+".ts")
}

// Unwrap returns the syntax error.
func (e *SyntaxHintError) Unwrap() error { return e.Err }

// withTypeScriptHint adds the rename hint to a syntax error of a JavaScript
// file whose source compiles as TypeScript.
func withTypeScriptHint(path string, src []byte, err error) error {
	if err == nil || isTypeScript(path) {
		return err
	}
	if _, tsErr := compileTypeScript(path, src); tsErr != nil {
		return err
	}
	return &SyntaxHintError{Err: err, Path: path}
}
