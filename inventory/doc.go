// Package inventory loads the fleet description: which SMC hosts exist, how
// to reach them over SSH (and their REST API), and the variables playbooks
// see for each of them.
//
// An inventory is one HCL file with three kinds of blocks:
//
//	defaults { ... }      // at most one
//	group "east" { ... }  // any number
//	host "smc-01" { ... } // any number; file order is run order
//
// Each block accepts the connection settings port, user, identity_files,
// ssh_agent, password, known_hosts, host_keys, jump, connect_timeout,
// ssh_config, vars and one api block {url, username, password, ca_file, fingerprint_sha256,
// insecure}. Only a host accepts address and groups. Attributes are
// evaluated with the function table of internal/lang (env(), file(), ...)
// and no variables; a null value counts as not set.
//
// # Precedence
//
// Every setting is merged field by field, and vars (and api fields) key by
// key, from least to most specific:
//
//	defaults < groups, in the order the host lists them < host
//
// so with groups = ["east", "prod"], a value in "prod" overrides one in
// "east", and a value in the host block overrides both. A list (jump,
// identity_files, host_keys) is replaced whole, never appended to, so
// jump = [] in a host cancels an inherited jump.
//
// # Defaults
//
//   - address: the host's name, as Ansible's inventory_hostname.
//   - port: 22. user: $USER, else the current OS user (as OpenSSH does).
//   - ssh_agent: true (the transport uses it when an agent is reachable).
//   - known_hosts: ~/.ssh/known_hosts, but only when neither known_hosts nor
//     host_keys is set anywhere for the host; with host_keys alone, only the
//     pinned keys are trusted.
//   - connect_timeout: 10s.
//   - api.url: https://<address> when an api block applies to the host.
//
// Paths (identity_files, known_hosts, api.ca_file) expand a leading ~/ to
// the home directory and are made relative to the inventory file's
// directory. api.fingerprint_sha256 is normalised to upper-case hex pairs
// separated by colons. host_keys entries are either a public key as in
// authorized_keys ("ssh-ed25519 AAAA...") or a fingerprint as printed by
// ssh-keygen -l ("SHA256:...").
//
// # Jump hosts
//
// Each jump entry is the name of an inventory host or, for a machine outside
// the inventory, a "[user@]host[:port]" string. An entry that is a single
// word (no '.', ':' or '@') must name an inventory host, so that a typo is
// an error rather than a DNS lookup. The first hop is reached through its
// own jump setting, as OpenSSH's ProxyJump does; later hops are reached
// through the hop before them. Jump relations must not form a cycle.
//
// # OpenSSH client configuration
//
// Each host is looked up in an ssh_config(5) file by its address (its name
// unless address is set), as ssh(1) looks up its destination: HostName
// replaces the address, and Port, User, IdentityFile (all of them),
// ProxyJump, UserKnownHostsFile (the first file), ConnectTimeout and
// IdentityAgent none (ssh_agent = false) apply only where the inventory
// leaves the setting unset anywhere (defaults, groups, host): the inventory
// always wins. The file is the ssh_config setting (a path, or "" for none),
// else LoadOptions.SSHConfig, else $SMCFLEET_SSH_CONFIG (empty for none),
// else ~/.ssh/config. A missing ~/.ssh/config is no configuration and one
// that cannot be parsed (Match blocks, for one) is a warning; a file named
// explicitly must exist and parse. ProxyJump entries become the host's jump
// list; an entry naming an inventory host is that host, any other is
// looked up in the same file (and the first hop's own ProxyJump comes
// before it), as ssh -J does.
//
// # Ansible INI inventories
//
// A file named *.ini or *.cfg, or one whose first line is a [section] or
// that has no '{', is read as an Ansible INI inventory (LoadOptions.Format
// forces either). Hosts are lines "NAME [key=value ...]" (shell quoting;
// '#' starts a comment), with Ansible's NAME:PORT and numeric or letter
// ranges (smc-[01:10], smc-[1:9:2], node-[a:f]); [NAME] sections are
// groups, [NAME:children] nest them and [NAME:vars] are a group's
// variables; [all:vars] is the defaults block, and hosts before any
// section or under [ungrouped] or [all] belong to no group. A host's
// groups are every group it is listed under and their ancestors, merged
// in Ansible's order: by depth from "all", then by name.
//
// Variables map to settings: ansible_host, ansible_port, ansible_user,
// ansible_ssh_private_key_file, ansible_ssh_timeout (and their
// ansible_ssh_* or ansible_* aliases), plus smcfleet_known_hosts,
// smcfleet_host_keys (comma-separated), smcfleet_ssh_agent,
// smcfleet_jump (comma-separated) and smcfleet_ssh_config for what Ansible
// has no variable for. Every other variable is a host or group var, a
// string. Passwords (ansible_password, ansible_ssh_pass,
// ansible_become_password...) are refused: use keys, or HCL with
// password = env("..."). Other ansible_* variables (ansible_become...) are
// ignored with a warning; ansible_connection other than ssh is an error.
//
// # Secrets
//
// Passwords (password, api.password) are always secret; any other value is
// secret when it comes from env(), file() or sensitive(). Vars keep their
// cty marks. Host.Secrets lists every secret string for output redaction
// and Host.View never contains one. Settings that are not secret by nature
// (port, ssh_agent, connect_timeout, jump, groups, api.insecure) reject
// sensitive values; wrap them in nonsensitive() to use env().
//
// Host and group names match ^[A-Za-z0-9._-]+$ (they name directories) and
// share one namespace, with "all" reserved, so that a --limit pattern is
// never ambiguous.
package inventory
