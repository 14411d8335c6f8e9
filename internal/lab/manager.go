package lab

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/smcfleet/smcfleet/internal/lab/smcapi"
)

// Paths on a Manager, as the procedure prints them.
const (
	CiphersPath = "/lancope/services/swos-compliance/security/tls-ciphers"
	// ResponseLogPath is spelt "reponse", as the procedure prints it.
	ResponseLogPath = "/lancope/var/logs/containers/sw-reponse-mgmt.log"
	// CentralLogPath is where Central Management logs its details.
	CentralLogPath = "/lancope/var/logs/containers/svc-central-management.log"
	// ResponseContainer is the container that sends notification e-mails.
	ResponseContainer = "sw-response-mgmt"
)

// DefaultCiphers is a realistic default OpenSSL cipher list of a Manager:
// it still allows DHE suites, which AWS answers with a 1024-bit DH key.
const DefaultCiphers = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:" +
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384:" +
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-CHACHA20-POLY1305:" +
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:" +
	"ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:DHE-RSA-AES256-SHA256:" +
	"ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:DHE-RSA-AES128-SHA256\n"

// containerNames are the containers a Manager runs (a representative set).
var containerNames = []string{
	"svc-central-management", "sw-response-mgmt", "swos-compliance", "sw-reporting", "svc-cm-agent",
}

// Container is one simulated container.
type Container struct {
	Name         string
	Running      bool
	StartedAt    time.Time
	RestartCount int
	// What sw-response-mgmt loaded at its last (re)start, and uses until
	// it restarts again: the tls-ciphers list, the trust store and the SMTP
	// settings of the applied configuration.
	Ciphers    string
	TrustStore []*x509.Certificate
	SMTP       smcapi.SMTPSettings
}

// Manager is the state of one simulated Manager beyond its files: its
// containers, and what sw-response-mgmt loaded when it last started.
type Manager struct {
	Name string
	Root string

	mu         sync.Mutex
	containers map[string]*Container
	now        func() time.Time
	// onStart completes what a starting sw-response-mgmt loads (set by
	// the lab once the host's API exists).
	onStart func(*Container)
}

func newManager(name, root string, now func() time.Time) (*Manager, error) {
	m := &Manager{Name: name, Root: root, containers: map[string]*Container{}, now: now}
	if err := m.seed(); err != nil {
		return nil, err
	}
	start := now().Add(-72 * time.Hour)
	for _, c := range containerNames {
		m.containers[c] = &Container{Name: c, Running: true, StartedAt: start}
	}
	return m, nil
}

// loadResponseMgmt makes sw-response-mgmt (re)load its configuration.
// Callers hold m.mu, or own m exclusively.
func (m *Manager) loadResponseMgmt() {
	c := m.containers[ResponseContainer]
	c.Ciphers = m.readCiphers()
	if m.onStart != nil {
		m.onStart(c)
	}
}

// seed lays out the Manager's files as on a real one.
func (m *Manager) seed() error {
	files := map[string]string{
		CiphersPath:     DefaultCiphers,
		ResponseLogPath: "",
		CentralLogPath:  "",
		"/etc/hostname": m.Name + "\n",
		"/root/.bashrc": "",
	}
	for p, content := range files {
		full := m.path(p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if _, err := os.Stat(full); err == nil {
			continue // keep a previous run's state
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return os.MkdirAll(m.path("/root"), 0o700)
}

// path maps an absolute Manager path into the host directory.
func (m *Manager) path(p string) string {
	return filepath.Join(m.Root, filepath.FromSlash(strings.TrimPrefix(p, "/")))
}

func (m *Manager) readCiphers() string {
	b, err := os.ReadFile(m.path(CiphersPath))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Container returns a copy of a container's state.
func (m *Manager) Container(name string) (Container, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.containers[name]
	if !ok {
		return Container{}, false
	}
	return *c, true
}

// Restart restarts a container; sw-response-mgmt re-reads tls-ciphers.
func (m *Manager) Restart(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.containers[name]
	if !ok {
		return noSuchContainer(name)
	}
	c.Running = true
	c.StartedAt = m.now()
	c.RestartCount++
	if name == ResponseContainer {
		m.loadResponseMgmt()
	}
	return nil
}

// Docker implements the `docker` command of the simulated Manager:
// restart, start, stop, ps and inspect (with -f templates the bundled
// playbooks use).
func (m *Manager) Docker(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "Usage:  docker [OPTIONS] COMMAND")
		return 1
	}
	switch args[0] {
	case "restart", "start", "stop":
		if len(args) < 2 {
			fmt.Fprintf(stderr, "\"docker %s\" requires at least 1 argument.\n", args[0])
			return 1
		}
		status := 0
		for _, name := range args[1:] {
			if strings.HasPrefix(name, "-") {
				continue
			}
			var err error
			switch args[0] {
			case "stop":
				err = m.setRunning(name, false)
			case "start":
				err = m.setRunning(name, true)
			default:
				err = m.Restart(name)
			}
			if err != nil {
				fmt.Fprintln(stderr, err)
				status = 1
				continue
			}
			fmt.Fprintln(stdout, name)
		}
		return status
	case "ps":
		m.mu.Lock()
		defer m.mu.Unlock()
		all := len(args) > 1 && (args[1] == "-a" || args[1] == "--all")
		fmt.Fprintf(stdout, "%-14s %-40s %-25s %-20s %s\n", "CONTAINER ID", "IMAGE", "CREATED", "STATUS", "NAMES")
		for _, name := range m.sortedNames() {
			c := m.containers[name]
			if !c.Running && !all {
				continue
			}
			status := "Exited (0)"
			if c.Running {
				status = "Up " + humanDuration(m.now().Sub(c.StartedAt))
			}
			fmt.Fprintf(stdout, "%-14s %-40s %-25s %-20s %s\n", containerID(name), "lancope/"+name+":7.5.1", "3 days ago", status, name)
		}
		return 0
	case "inspect":
		return m.inspect(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "docker: '%s' is not a docker command (simulated Manager: restart, start, stop, ps, inspect).\n", args[0])
	return 1
}

func (m *Manager) setRunning(name string, running bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.containers[name]
	if !ok {
		return noSuchContainer(name)
	}
	if running && !c.Running {
		c.StartedAt = m.now()
		if name == ResponseContainer {
			m.loadResponseMgmt()
		}
	}
	c.Running = running
	return nil
}

func (m *Manager) inspect(args []string, stdout, stderr io.Writer) int {
	format := ""
	var names []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-f" || a == "--format":
			if i+1 < len(args) {
				format = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--format="):
			format = strings.TrimPrefix(a, "--format=")
		default:
			names = append(names, a)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	status := 0
	for _, name := range names {
		c, ok := m.containers[name]
		if !ok {
			fmt.Fprintf(stderr, "Error: No such object: %s\n", name)
			status = 1
			continue
		}
		started := c.StartedAt.UTC().Format(time.RFC3339Nano)
		if format == "" {
			fmt.Fprintf(stdout, "[{\"Name\": \"/%s\", \"RestartCount\": %d, \"State\": {\"Running\": %t, \"StartedAt\": %q}}]\n",
				c.Name, c.RestartCount, c.Running, started)
			continue
		}
		r := strings.NewReplacer(
			"{{.State.Running}}", fmt.Sprint(c.Running),
			"{{.State.StartedAt}}", started,
			"{{.RestartCount}}", fmt.Sprint(c.RestartCount),
			"{{.Name}}", "/"+c.Name,
			"{{.State.Status}}", map[bool]string{true: "running", false: "exited"}[c.Running],
		)
		fmt.Fprintln(stdout, r.Replace(format))
	}
	return status
}

func (m *Manager) sortedNames() []string {
	var names []string
	for n := range m.containers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func containerID(name string) string {
	var h uint64 = 1469598103934665603
	for _, c := range []byte(name) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return fmt.Sprintf("%012x", h&0xffffffffffff)
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// noSuchContainer is a container name the Manager does not run; Docker
// prints it as the daemon's error.
type noSuchContainer string

func (e noSuchContainer) Error() string {
	return "Error response from daemon: No such container: " + string(e)
}
