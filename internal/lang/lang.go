// Package lang is the expression language shared by inventories and
// playbooks: the curated function table and the "sensitive" mark that keeps
// secrets out of every output.
package lang

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"os"
	"path/filepath"
	"sort"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

type mark string

// Sensitive marks a value (or a part of one) as secret. Marks survive
// expressions and function calls, so anything computed from a secret is
// secret too.
const Sensitive = mark("sensitive")

// RedactedText replaces a sensitive value wherever one would be printed.
const RedactedText = "(sensitive)"

// MaxFileSize bounds file(): it is meant for secrets and small templates.
const MaxFileSize = 4 << 20

// Functions returns the function table. baseDir resolves relative paths given
// to file(); getenv looks up environment variables (os.Getenv when nil), so
// tests need not touch the process environment.
func Functions(baseDir string, getenv func(string) (string, bool)) map[string]function.Function {
	return FunctionsWithHook(baseDir, getenv, nil)
}

// FunctionsWithHook is Functions, and also hands every secret that env()
// or file() reads to onSecret, so free text that later contains it (a
// command line, an error) can be redacted without hiding the rest.
func FunctionsWithHook(baseDir string, getenv func(string) (string, bool), onSecret func(string)) map[string]function.Function {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	if onSecret == nil {
		onSecret = func(string) {}
	}
	fns := map[string]function.Function{
		"abs":             stdlib.AbsoluteFunc,
		"can":             tryfunc.CanFunc,
		"try":             tryfunc.TryFunc,
		"ceil":            stdlib.CeilFunc,
		"chomp":           stdlib.ChompFunc,
		"chunklist":       stdlib.ChunklistFunc,
		"coalesce":        stdlib.CoalesceFunc,
		"coalescelist":    stdlib.CoalesceListFunc,
		"compact":         stdlib.CompactFunc,
		"concat":          stdlib.ConcatFunc,
		"contains":        stdlib.ContainsFunc,
		"csvdecode":       stdlib.CSVDecodeFunc,
		"distinct":        stdlib.DistinctFunc,
		"element":         stdlib.ElementFunc,
		"flatten":         stdlib.FlattenFunc,
		"floor":           stdlib.FloorFunc,
		"format":          stdlib.FormatFunc,
		"formatdate":      stdlib.FormatDateFunc,
		"formatlist":      stdlib.FormatListFunc,
		"indent":          stdlib.IndentFunc,
		"join":            stdlib.JoinFunc,
		"jsondecode":      stdlib.JSONDecodeFunc,
		"jsonencode":      stdlib.JSONEncodeFunc,
		"keys":            stdlib.KeysFunc,
		"length":          stdlib.LengthFunc,
		"lookup":          stdlib.LookupFunc,
		"lower":           stdlib.LowerFunc,
		"max":             stdlib.MaxFunc,
		"merge":           stdlib.MergeFunc,
		"min":             stdlib.MinFunc,
		"parseint":        stdlib.ParseIntFunc,
		"range":           stdlib.RangeFunc,
		"regex":           stdlib.RegexFunc,
		"regexall":        stdlib.RegexAllFunc,
		"regex_replace":   stdlib.RegexReplaceFunc,
		"replace":         stdlib.ReplaceFunc,
		"reverse":         stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc,
		"setunion":        stdlib.SetUnionFunc,
		"slice":           stdlib.SliceFunc,
		"sort":            stdlib.SortFunc,
		"split":           stdlib.SplitFunc,
		"strrev":          stdlib.ReverseFunc,
		"substr":          stdlib.SubstrFunc,
		"title":           stdlib.TitleFunc,
		"tobool":          makeToFunc(cty.Bool),
		"tonumber":        makeToFunc(cty.Number),
		"tostring":        makeToFunc(cty.String),
		"trim":            stdlib.TrimFunc,
		"trimprefix":      stdlib.TrimPrefixFunc,
		"trimspace":       stdlib.TrimSpaceFunc,
		"trimsuffix":      stdlib.TrimSuffixFunc,
		"upper":           stdlib.UpperFunc,
		"values":          stdlib.ValuesFunc,
		"zipmap":          stdlib.ZipmapFunc,

		"env":          envFunc(getenv, onSecret),
		"file":         fileFunc(baseDir, onSecret),
		"sha256":       sha256Func,
		"sensitive":    sensitiveFunc,
		"nonsensitive": nonsensitiveFunc,
	}
	return fns
}

// FunctionNames lists the function table, sorted, for documentation.
func FunctionNames() []string {
	var names []string
	for n := range Functions("", nil) {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func envFunc(getenv func(string) (string, bool), onSecret func(string)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, marked sensitive.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder {
			return b.NotNull()
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			v, ok := getenv(name)
			if !ok {
				return cty.UnknownVal(cty.String), fmt.Errorf("environment variable %s is not set", name)
			}
			onSecret(v)
			return cty.StringVal(v).Mark(Sensitive), nil
		},
	})
}

func fileFunc(baseDir string, onSecret func(string)) function.Function {
	return function.New(&function.Spec{
		Description: "Reads a local file (at most 4 MiB), relative to the file that calls it; the content is marked sensitive.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if !filepath.IsAbs(p) {
				p = filepath.Join(baseDir, p)
			}
			st, err := os.Stat(p)
			if err != nil {
				return cty.UnknownVal(cty.String), fmt.Errorf("read %s: %w", p, err)
			}
			if !st.Mode().IsRegular() {
				return cty.UnknownVal(cty.String), fmt.Errorf("read %s: not a regular file", p)
			}
			if st.Size() > MaxFileSize {
				return cty.UnknownVal(cty.String), fmt.Errorf("read %s: %d bytes, more than the %d allowed", p, st.Size(), MaxFileSize)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return cty.UnknownVal(cty.String), fmt.Errorf("read %s: %w", p, err)
			}
			onSecret(string(b))
			return cty.StringVal(string(b)).Mark(Sensitive), nil
		},
	})
}

var sha256Func = function.New(&function.Spec{
	Description: "Returns the hex SHA-256 of a string.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		sum := sha256.Sum256([]byte(args[0].AsString()))
		return cty.StringVal(hex.EncodeToString(sum[:])), nil
	},
})

var sensitiveFunc = function.New(&function.Spec{
	Description: "Marks a value sensitive.",
	Params: []function.Parameter{{
		Name: "value", Type: cty.DynamicPseudoType,
		AllowUnknown: true, AllowNull: true, AllowMarked: true, AllowDynamicType: true,
	}},
	Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return args[0].Mark(Sensitive), nil
	},
})

// nonsensitiveFunc lets an author declare that a value derived from a secret
// is safe to show (for example a file read with file() that holds a cipher
// list, not a password).
var nonsensitiveFunc = function.New(&function.Spec{
	Description: "Removes the sensitive mark from a value.",
	Params: []function.Parameter{{
		Name: "value", Type: cty.DynamicPseudoType,
		AllowUnknown: true, AllowNull: true, AllowMarked: true, AllowDynamicType: true,
	}},
	Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, _ := args[0].UnmarkDeep()
		return v, nil
	},
})

func makeToFunc(want cty.Type) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{
			Name: "v", Type: cty.DynamicPseudoType,
			AllowNull: true, AllowMarked: true, AllowDynamicType: true,
		}},
		Type: function.StaticReturnType(want),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return convertTo(args[0], want)
		},
	})
}
