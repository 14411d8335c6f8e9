package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/smcfleet/smcfleet/internal/atomicfile"
)

func fetchKind() *Kind {
	return &Kind{
		Name:    "fetch",
		Summary: "Pull remote files (paths or globs) over SFTP into DEST/<host>/, verified by SHA-256.",
		Spec: hcldec.ObjectSpec{
			"src":  &hcldec.AttrSpec{Name: "src", Type: cty.DynamicPseudoType},
			"from": &hcldec.AttrSpec{Name: "from", Type: cty.DynamicPseudoType},
			"dest": &hcldec.AttrSpec{Name: "dest", Type: cty.String, Required: true},
			"flat": &hcldec.AttrSpec{Name: "flat", Type: cty.Bool},
		},
		Outputs: cty.Object(map[string]cty.Type{
			"files":        cty.List(cty.String),
			"remote_files": cty.List(cty.String),
			"changed":      cty.Bool,
		}),
		New: newFetchAction,
	}
}

type fetchAction struct {
	patterns []string
	dest     string
	flat     bool
}

type fetchItem struct {
	remote, local string
	sum           string // remote SHA-256, hex
	mode          fs.FileMode
	needed        bool
}

func newFetchAction(cfg cty.Value) (Action, error) {
	a := &fetchAction{dest: getString(cfg, "dest"), flat: getBool(cfg, "flat")}
	// from is src by another name, for reading well as
	// from = step.chain.files.
	src, _ := cfg.GetAttr("src").UnmarkDeep()
	from, _ := cfg.GetAttr("from").UnmarkDeep()
	switch {
	case src.IsNull() && from.IsNull():
		return nil, fmt.Errorf("set src (a path, a glob or a list) or from (e.g. step.chain.files)")
	case !src.IsNull() && !from.IsNull():
		return nil, fmt.Errorf("set src or from, not both")
	case src.IsNull():
		src = from
	}
	if src.Type() == cty.String {
		a.patterns = []string{src.AsString()}
	} else {
		list, err := convert.Convert(src, cty.List(cty.String))
		if err != nil {
			return nil, fmt.Errorf("src must be a path, a glob, or a list of them: %w", err)
		}
		for it := list.ElementIterator(); it.Next(); {
			_, v := it.Element()
			a.patterns = append(a.patterns, v.AsString())
		}
	}
	if len(a.patterns) == 0 {
		return nil, fmt.Errorf("src names no file")
	}
	for _, p := range a.patterns {
		if !path.IsAbs(p) {
			return nil, fmt.Errorf("src %q must be an absolute remote path", p)
		}
	}
	if a.dest == "" {
		return nil, fmt.Errorf("dest is empty")
	}
	return a, nil
}

// LocalFetchPath is where fetch stores a remote file: DEST/<host>/<remote
// path without its leading slash>, or DEST/<host>/<base name> when flat.
func LocalFetchPath(dest, host, remotePath string, flat bool) string {
	if flat {
		return filepath.Join(dest, host, path.Base(remotePath))
	}
	return filepath.Join(dest, host, filepath.FromSlash(strings.TrimPrefix(path.Clean(remotePath), "/")))
}

func (a *fetchAction) Check(ctx context.Context, env *Env) (*Change, error) {
	var remotes []string
	seen := map[string]bool{}
	for _, p := range a.patterns {
		var matches []string
		if strings.ContainsAny(p, "*?[") {
			m, err := env.Conn.Glob(ctx, p)
			if err != nil {
				return nil, fmt.Errorf("glob %s: %w", p, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("src %s matches no file on this host", p)
			}
			matches = m
		} else {
			matches = []string{path.Clean(p)}
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				remotes = append(remotes, m)
			}
		}
	}
	items := make([]*fetchItem, 0, len(remotes))
	locals := map[string]string{}
	for _, r := range remotes {
		st, err := env.Conn.Stat(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", r, err)
		}
		if !st.Exists {
			return nil, fmt.Errorf("%s does not exist on this host", r)
		}
		if st.IsDir {
			if len(a.patterns) == 1 && !strings.ContainsAny(a.patterns[0], "*?[") {
				return nil, fmt.Errorf("%s is a directory: give a file or a glob such as %s/*", r, r)
			}
			continue
		}
		local := LocalFetchPath(a.dest, env.Host.Name, r, a.flat)
		if prev, dup := locals[local]; dup {
			return nil, fmt.Errorf("%s and %s would both be stored as %s: drop flat = true", prev, r, local)
		}
		locals[local] = r
		items = append(items, &fetchItem{remote: r, local: local, mode: st.Mode.Perm()})
	}
	if err := remoteSums(ctx, env, items); err != nil {
		return nil, err
	}
	ch := &Change{Action: ActionNone, State: items}
	var created, updated int
	obs := []string{"fetch"}
	for _, it := range items {
		sum, err := localSum(it.local)
		obs = append(obs, it.remote, it.sum, it.local, sum)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			it.needed = true
			created++
			ch.Details = append(ch.Details, fmt.Sprintf("+ %s -> %s", it.remote, it.local))
		case err != nil:
			return nil, fmt.Errorf("read local %s: %w", it.local, err)
		case sum != it.sum:
			it.needed = true
			updated++
			ch.Details = append(ch.Details, fmt.Sprintf("~ %s -> %s (sha256 %s...)", it.remote, it.local, it.sum[:12]))
		}
	}
	switch {
	case updated > 0:
		ch.Action = ActionUpdate
	case created > 0:
		ch.Action = ActionCreate
	}
	ch.Observed = fingerprint(obs...)
	ch.Summary = fmt.Sprintf("%d file(s) into %s: %d new, %d changed, %d identical",
		len(items), filepath.Join(a.dest, env.Host.Name), created, updated, len(items)-created-updated)
	ch.Outputs = fetchOutputs(items, false)
	return ch, nil
}

func (a *fetchAction) Apply(ctx context.Context, env *Env, ch *Change) (cty.Value, error) {
	items := ch.State.([]*fetchItem)
	for _, it := range items {
		if !it.needed {
			continue
		}
		if err := fetchOne(ctx, env, it); err != nil {
			return cty.NilVal, err
		}
	}
	return fetchOutputs(items, true), nil
}

func fetchOutputs(items []*fetchItem, changed bool) cty.Value {
	files := cty.ListValEmpty(cty.String)
	remotes := cty.ListValEmpty(cty.String)
	if len(items) > 0 {
		var l, r []cty.Value
		for _, it := range items {
			l = append(l, cty.StringVal(it.local))
			r = append(r, cty.StringVal(it.remote))
		}
		files, remotes = cty.ListVal(l), cty.ListVal(r)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"files":        files,
		"remote_files": remotes,
		"changed":      cty.BoolVal(changed),
	})
}

// remoteSums learns the SHA-256 of every file (one command, see
// remoteSHA256); a file that vanished since it was listed is an error.
func remoteSums(ctx context.Context, env *Env, items []*fetchItem) error {
	paths := make([]string, len(items))
	for i, it := range items {
		paths[i] = it.remote
	}
	sums, err := remoteSHA256(ctx, env, paths)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.sum = sums[it.remote]; it.sum == "" {
			return fmt.Errorf("%s could not be read for its checksum", it.remote)
		}
	}
	return nil
}

func localSum(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fetchOne streams one file into place atomically, verifying its checksum
// before the rename: a short or altered transfer never replaces the copy.
func fetchOne(ctx context.Context, env *Env, it *fetchItem) error {
	if err := os.MkdirAll(filepath.Dir(it.local), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(it.local), err)
	}
	r, err := env.Conn.Open(ctx, it.remote)
	if err != nil {
		return fmt.Errorf("open %s: %w", it.remote, err)
	}
	defer r.Close()
	err = atomicfile.Write(it.local, it.mode&0o755, func(w io.Writer) error {
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != it.sum {
			return fmt.Errorf("checksum mismatch (remote %s, received %s): the file changed during the transfer; run again", it.sum, got)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fetch %s: %w", it.remote, err)
	}
	return nil
}
