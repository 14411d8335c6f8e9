package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/zclconf/go-cty/cty"

	"github.com/smcfleet/smcfleet/internal/lang"
	"github.com/smcfleet/smcfleet/internal/remote"
)

// maxManagedFile bounds the size of a file the file step reads to compare.
const maxManagedFile = 16 << 20

// maxDiffLines bounds a diff shown in a plan.
const maxDiffLines = 400

func fileKind() *Kind {
	return &Kind{
		Name:    "file",
		Summary: "Ensure a remote file's content, mode and owner; optionally keep the first original as a backup.",
		Spec: hcldec.ObjectSpec{
			"path":        &hcldec.AttrSpec{Name: "path", Type: cty.String, Required: true},
			"content":     &hcldec.AttrSpec{Name: "content", Type: cty.String, Required: true},
			"mode":        &hcldec.AttrSpec{Name: "mode", Type: cty.String},
			"owner":       &hcldec.AttrSpec{Name: "owner", Type: cty.String},
			"group":       &hcldec.AttrSpec{Name: "group", Type: cty.String},
			"backup":      &hcldec.AttrSpec{Name: "backup", Type: cty.Bool},
			"backup_path": &hcldec.AttrSpec{Name: "backup_path", Type: cty.String},
		},
		Outputs: cty.Object(map[string]cty.Type{
			"path":        cty.String,
			"sha256":      cty.String,
			"changed":     cty.Bool,
			"backup_path": cty.String,
		}),
		New: newFileAction,
	}
}

type fileAction struct {
	path       string
	content    []byte
	sensitive  bool
	mode       *fs.FileMode
	owner      string
	group      string
	backup     bool
	backupPath string
}

type fileState struct {
	exists bool
	uid    *int
	gid    *int
	// What was there before, for a rollback.
	prev             []byte
	prevMode         fs.FileMode
	prevUID, prevGID int
	// backupCreated: this run's Apply made the backup.
	backupCreated bool
}

func newFileAction(cfg cty.Value) (Action, error) {
	a := &fileAction{
		path:      getString(cfg, "path"),
		content:   []byte(getString(cfg, "content")),
		sensitive: lang.IsSensitive(cfg.GetAttr("content")),
		owner:     getString(cfg, "owner"),
		group:     getString(cfg, "group"),
		backup:    getBool(cfg, "backup"),
	}
	if !path.IsAbs(a.path) {
		return nil, fmt.Errorf("path %q must be absolute", a.path)
	}
	a.path = path.Clean(a.path)
	if m := getString(cfg, "mode"); m != "" {
		n, err := strconv.ParseUint(m, 8, 32)
		if err != nil || n > 0o7777 {
			return nil, fmt.Errorf("mode %q is not an octal file mode such as \"0644\"", m)
		}
		mode := fs.FileMode(n)
		a.mode = &mode
	}
	a.backupPath = getString(cfg, "backup_path")
	if a.backupPath != "" {
		a.backup = true
		if !path.IsAbs(a.backupPath) {
			a.backupPath = path.Join(path.Dir(a.path), a.backupPath)
		}
		if path.Clean(a.backupPath) == a.path {
			return nil, fmt.Errorf("backup_path must differ from path")
		}
	} else {
		a.backupPath = a.path + ".bak"
	}
	return a, nil
}

func (a *fileAction) Check(ctx context.Context, env *Env) (*Change, error) {
	st, err := env.Conn.Stat(ctx, a.path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", a.path, err)
	}
	if st.IsDir {
		return nil, fmt.Errorf("%s is a directory", a.path)
	}
	state := &fileState{exists: st.Exists}
	if state.uid, err = resolveID(ctx, env, "owner", a.owner); err != nil {
		return nil, err
	}
	if state.gid, err = resolveID(ctx, env, "group", a.group); err != nil {
		return nil, err
	}
	want := sha256.Sum256(a.content)
	ch := &Change{State: state, Action: ActionNone, Summary: a.path}
	var current []byte
	if st.Exists {
		current, err = env.Conn.ReadFile(ctx, a.path, maxManagedFile)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", a.path, err)
		}
	}
	state.prev, state.prevMode, state.prevUID, state.prevGID = current, st.Mode.Perm(), st.UID, st.GID
	contentDiffers := !st.Exists || sha256.Sum256(current) != want
	backupExists := false
	if a.backup && st.Exists {
		bst, err := env.Conn.Stat(ctx, a.backupPath)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", a.backupPath, err)
		}
		backupExists = bst.Exists
	}
	ch.Observed = fingerprint("file", fmt.Sprint(st.Exists), SHA256Hex(current),
		fmt.Sprintf("%04o", st.Mode.Perm()), fmt.Sprint(st.UID), fmt.Sprint(st.GID), fmt.Sprint(backupExists))
	var details []string
	if st.Exists && a.mode != nil && st.Mode.Perm() != a.mode.Perm() {
		details = append(details, fmt.Sprintf("mode %04o -> %04o", st.Mode.Perm(), a.mode.Perm()))
	}
	if st.Exists && state.uid != nil && st.UID != *state.uid {
		details = append(details, fmt.Sprintf("owner %d -> %d (%s)", st.UID, *state.uid, a.owner))
	}
	if st.Exists && state.gid != nil && st.GID != *state.gid {
		details = append(details, fmt.Sprintf("group %d -> %d (%s)", st.GID, *state.gid, a.group))
	}
	ch.Outputs = a.outputs(false)
	if !contentDiffers && len(details) == 0 {
		return ch, nil
	}
	ch.Action = ActionUpdate
	if !st.Exists {
		ch.Action = ActionCreate
		mode := fs.FileMode(0o644)
		if a.mode != nil {
			mode = *a.mode
		}
		details = append(details, fmt.Sprintf("mode %04o", mode.Perm()))
	}
	if contentDiffers {
		ch.Diff = a.diff(current, st.Exists)
	}
	if a.backup && st.Exists {
		if backupExists {
			details = append(details, fmt.Sprintf("backup %s already exists and is kept: it holds the first original", a.backupPath))
		} else {
			details = append(details, fmt.Sprintf("backup: the original is saved to %s", a.backupPath))
		}
	}
	ch.Details = details
	ch.Outputs = cty.NilVal
	return ch, nil
}

func (a *fileAction) Apply(ctx context.Context, env *Env, ch *Change) (cty.Value, error) {
	state := ch.State.(*fileState)
	if a.backup && state.exists {
		created, err := env.Conn.CopyNoClobber(ctx, a.path, a.backupPath)
		if err != nil {
			return cty.NilVal, fmt.Errorf("back up %s to %s: %w", a.path, a.backupPath, err)
		}
		if !created {
			env.Warn(fmt.Sprintf("backup %s already existed and was kept", a.backupPath))
		}
		state.backupCreated = created
	}
	err := env.Conn.WriteFile(ctx, a.path, a.content, remote.WriteOptions{Mode: a.mode, UID: state.uid, GID: state.gid})
	if err != nil {
		return cty.NilVal, fmt.Errorf("write %s: %w", a.path, err)
	}
	return a.outputs(true), nil
}

// Rollback puts back what Check saw: the previous content, mode and owner
// (written atomically), or no file at all; a backup this run made goes too.
func (a *fileAction) Rollback(ctx context.Context, env *Env, ch *Change) error {
	state := ch.State.(*fileState)
	if !state.exists {
		if err := env.Conn.Remove(ctx, a.path); err != nil {
			return fmt.Errorf("remove %s (it did not exist before): %w", a.path, err)
		}
		return nil
	}
	mode := state.prevMode
	opt := remote.WriteOptions{Mode: &mode}
	// The owner is put back only where the step changed it.
	if state.uid != nil {
		uid := state.prevUID
		opt.UID = &uid
	}
	if state.gid != nil {
		gid := state.prevGID
		opt.GID = &gid
	}
	if err := env.Conn.WriteFile(ctx, a.path, state.prev, opt); err != nil {
		return fmt.Errorf("restore %s: %w", a.path, err)
	}
	if state.backupCreated {
		if err := env.Conn.Remove(ctx, a.backupPath); err != nil {
			env.Warn(fmt.Sprintf("the backup %s made by this run could not be removed: %v", a.backupPath, err))
		}
	}
	return nil
}

func (a *fileAction) outputs(changed bool) cty.Value {
	sum := sha256.Sum256(a.content)
	bp := ""
	if a.backup {
		bp = a.backupPath
	}
	return cty.ObjectVal(map[string]cty.Value{
		"path":        cty.StringVal(a.path),
		"sha256":      cty.StringVal(hex.EncodeToString(sum[:])),
		"changed":     cty.BoolVal(changed),
		"backup_path": cty.StringVal(bp),
	})
}

func (a *fileAction) diff(current []byte, exists bool) string {
	if a.sensitive {
		return fmt.Sprintf("(sensitive content hidden: %d bytes -> %d bytes)", len(current), len(a.content))
	}
	if !isText(current) || !isText(a.content) {
		return fmt.Sprintf("(binary content differs: %d bytes -> %d bytes)", len(current), len(a.content))
	}
	from := a.path
	if !exists {
		from = "/dev/null"
	}
	ud := difflib.UnifiedDiff{
		A:        splitLines(current),
		B:        splitLines(a.content),
		FromFile: from,
		ToFile:   a.path,
		Context:  3,
	}
	if !exists {
		ud.A = nil
	}
	text, err := difflib.GetUnifiedDiffString(ud)
	if err != nil {
		return "(diff unavailable: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > maxDiffLines {
		lines = append(lines[:maxDiffLines], fmt.Sprintf("... %d more diff lines", len(lines)-maxDiffLines))
	}
	return strings.Join(lines, "\n")
}

func isText(b []byte) bool {
	return utf8.Valid(b) && !bytes.ContainsRune(b, 0)
}

// resolveID turns an owner or group given as a name into a numeric id on the
// host (one read-only command); a number is used as is.
func resolveID(ctx context.Context, env *Env, what, name string) (*int, error) {
	if name == "" {
		return nil, nil
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return &n, nil
	}
	cmd := "id -u -- " + shellQuote(name)
	if what == "group" {
		cmd = "getent group -- " + shellQuote(name) + " | cut -d: -f3"
	}
	res, err := env.Conn.Run(ctx, cmd, nil)
	if err != nil {
		return nil, fmt.Errorf("look up %s %q: %w", what, name, err)
	}
	n, perr := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
	if res.ExitCode != 0 || perr != nil {
		return nil, fmt.Errorf("%s %q does not exist on this host", what, name)
	}
	return &n, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r == '=' || r == '@' || r == '+' || r == ',' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func getString(cfg cty.Value, name string) string {
	v, _ := cfg.GetAttr(name).Unmark()
	if v.IsNull() {
		return ""
	}
	return v.AsString()
}

func getBool(cfg cty.Value, name string) bool {
	v, _ := cfg.GetAttr(name).Unmark()
	return !v.IsNull() && v.True()
}

// splitLines splits text into lines that each end in "\n", marking a last
// line without one the way diff(1) does.
func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		return lines[:len(lines)-1]
	}
	lines[len(lines)-1] += "\n\\ No newline at end of file\n"
	return lines
}
