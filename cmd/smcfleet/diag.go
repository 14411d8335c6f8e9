package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// writeDiagnostics renders each diagnostic with its file:line:col, the
// source line and a caret under the exact range, like a compiler:
//
//	Error: Unsupported argument
//	  --> site.hcl:4:3
//	   |
//	 4 |   cwd = "/tmp"
//	   |   ^^^
//	   = An argument named "cwd" is not expected here.
func writeDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + "\x1b[0m"
	}
	for _, d := range diags {
		var b strings.Builder
		label := paint("\x1b[1;31m", "Error")
		if d.Severity == hcl.DiagWarning {
			label = paint("\x1b[1;33m", "Warning")
		}
		fmt.Fprintf(&b, "%s: %s\n", label, paint("\x1b[1m", d.Summary))
		if d.Subject != nil {
			rng := *d.Subject
			fmt.Fprintf(&b, "  --> %s:%d:%d\n", rng.Filename, rng.Start.Line, rng.Start.Column)
			if line, ok := sourceLine(files, rng.Filename, rng.Start.Line); ok {
				num := fmt.Sprint(rng.Start.Line)
				pad := strings.Repeat(" ", len(num))
				width := 1
				if rng.End.Line == rng.Start.Line && rng.End.Column > rng.Start.Column {
					width = rng.End.Column - rng.Start.Column
				} else if rng.End.Line > rng.Start.Line {
					width = max(1, len([]rune(line))-rng.Start.Column+1)
				}
				fmt.Fprintf(&b, " %s |\n", pad)
				fmt.Fprintf(&b, " %s | %s\n", num, strings.ReplaceAll(line, "\t", " "))
				fmt.Fprintf(&b, " %s | %s%s\n", pad, strings.Repeat(" ", max(0, rng.Start.Column-1)), paint("\x1b[31m", strings.Repeat("^", width)))
			}
		}
		if d.Detail != "" {
			fmt.Fprintf(&b, "   = %s\n", strings.ReplaceAll(d.Detail, "\n", "\n     "))
		}
		b.WriteString("\n")
		io.WriteString(w, b.String())
	}
}

func sourceLine(files map[string]*hcl.File, name string, n int) (string, bool) {
	f, ok := files[name]
	if !ok || f == nil {
		return "", false
	}
	lines := bytes.Split(f.Bytes, []byte("\n"))
	if n < 1 || n > len(lines) {
		return "", false
	}
	return strings.TrimRight(string(lines[n-1]), "\r"), true
}
